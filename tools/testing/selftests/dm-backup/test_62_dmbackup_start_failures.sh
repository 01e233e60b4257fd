#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every failure of dmbackup start leaves the volume exactly as it was.
# DMBACKUP_FAIL_AT=<step> makes one step fail as if its ioctl had failed
# (create, load, suspend, resume, and resume-after: the resume succeeded,
# then "failed").
# Oracles: the table, the state (active, no inactive table, no hidden
# device) and the data of the volume equal those before the attempt (an
# image while unmounted); mounted, a writer goes on (the volume is not left
# suspended), its files are intact and e2fsck is clean.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 621
mkvol vol "$o"
table0=$(table_of vol)
save_image /dev/mapper/vol "$DMBT_TMP/t0"

info "start fails at each step; the volume is untouched"
for step in create load suspend resume resume-after; do
	info "DMBACKUP_FAIL_AT=$step"
	expect_injected $step start vol "$b" --speed 4M
	vol_untouched vol "$table0" "$DMBT_TMP/t0"
done

info "mounted and written to: failures during start"
run mke2fs -q -t ext4 -F /dev/mapper/vol
table0=$(table_of vol)
mkdir -p /mnt/vol
trap 'umount -l /mnt/vol 2>/dev/null' EXIT
run mount -t ext4 /dev/mapper/vol /mnt/vol
WRITER_MAX=16 writer_start /mnt/vol "$DMBT_TMP/stop"
for step in load suspend resume resume-after; do
	DMBACKUP_FAIL_AT=$step dmbackup start vol "$b" --speed 4M && fail "$step did not fail"
	vol_untouched vol "$table0"
	writer_beats "$DMBT_TMP/stop"	# the volume is not left suspended
done
writer_stop "$DMBT_TMP/stop"
vol_untouched vol "$table0"
files_intact /mnt/vol "$NWRITTEN"
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol
