#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup with a metadata device that hangs when a job starts, on a
# mounted ext4: the volume is never left suspended.  The metadata device
# answers reads but holds its superblock writes (held_meta).
#
# `dmbackup start --meta` (cbw_timeout 2 s): the first resume cannot
# format the device; start fails within 30 s and puts the volume's table
# back (vol_untouched); the file system takes a synced write at once.
# Once the device answers, the kernel undoes its late superblock: the
# device is zeroed again.
#
# `dmbackup start --incremental` of a tracking job: the increment's
# resume fails, and neither it nor the tracking job's table can resume
# while the write is in flight: start puts the volume's original table
# back (the hidden device goes, and the job file for reinstate), says
# that the record is lost, and the file system takes a synced write at
# once.  Once the device answers, a full backup with --force starts on
# it and equals the image frozen at its start (frozen_start).
# tier: user
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

stall_volume 1800

info "dmbackup start --meta, the superblock writes held"
run dmsetup suspend --noflush sbgate
fails_soon "$DMBT_TMP/start.out" dmbackup start /dev/mapper/vol "$bdisk" \
	--meta /dev/mapper/mdev --cbw-timeout 2000
vol_untouched vol "$table0"
fs_writes 1
late_undone
superblocks_zero "$m" || fail "the late superblock of a job that never ran is on $m"

info "a tracking job; its increment with the superblock writes held"
run dmbackup start /dev/mapper/vol "$bdisk" --meta /dev/mapper/mdev --cbw-timeout 2000 \
	--track
run dmbackup wait /dev/mapper/vol --interval 0
fs_writes 2
run dmsetup suspend --noflush sbgate
fails_soon "$DMBT_TMP/inc.out" dmbackup start --incremental /dev/mapper/vol
fs_writes 3
vol_untouched vol "$table0"
grep -q "goes on with its original table, its record of changes lost" "$DMBT_TMP/inc.out" ||
	fail "start --incremental does not say the record is lost"
[ ! -e "$DMBACKUP_JOBS_DIR/vol.conf" ] || fail "the job file for reinstate is left"
late_undone

info "the device answers: a new full backup with --force"
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --meta /dev/mapper/mdev --track --force
run dmbackup wait /dev/mapper/vol --interval 0
same "$bdisk" "$DMBT_TMP/t0"
run dmbackup finish --stop-tracking /dev/mapper/vol
vol_untouched vol "$table0"
