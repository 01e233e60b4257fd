#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup with a tracking job whose metadata device hangs while it
# commits, on a mounted ext4: the device answers reads but holds every
# write (held_meta all).  A file written meanwhile is synced within 10 s
# (its marks cannot be committed: after cbw_timeout, 2 s, the record is
# lost and the writes go on).
#
# `dmbackup finish --stop-tracking` returns within 30 s and puts the
# volume's table back; the file system takes a synced write at once.
# Once the device answers, `dmbackup info` says the record is lost.
#
# `dmbackup start --incremental` then: the record is lost, so it is
# refused at once, changing nothing (the tracking table stays).  Once the
# device answers, the record on it says lost, and `start --incremental
# --or-full` starts a full backup that equals the image frozen at its
# start (frozen_start).  (test_17 takes an increment's resume through a
# hung commit, which a lost record keeps dmbackup from.)
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

stall_volume 1600 all

# commit_ends: the held writes go on; the end of the job whose table went
# is logged within 15 s, and the record on the device says lost.
commit_ends() {
	run dmsetup resume sbgate
	wait_until 15 'the end of the job is not logged: $(dmesg | tail -n 3)' \
		sh -c 'dmesg | tail -n 20 | grep -q "of a job whose table went has ended"'
	dmbackup info /dev/mapper/mdev >"$DMBT_TMP/info.out" 2>&1
	cat "$DMBT_TMP/info.out"
	grep -q "record lost" "$DMBT_TMP/info.out" ||
		fail "the record on the metadata device does not say lost"
}

info "a tracking job; finish --stop-tracking while a commit hangs"
run dmbackup start /dev/mapper/vol "$bdisk" --meta /dev/mapper/mdev --cbw-timeout 2000 \
	--track
run dmbackup wait /dev/mapper/vol --interval 0
fs_writes 1
run dmsetup suspend --noflush sbgate
fs_writes 2
run dmbackup finish --stop-tracking /dev/mapper/vol &
_ft_pid=$!
wait_until 30 'finish --stop-tracking hangs on the metadata device' proc_gone $_ft_pid
wait $_ft_pid || fail "finish --stop-tracking failed"
vol_untouched vol "$table0"
fs_writes 3
commit_ends

info "a tracking job; an increment asked for while a commit hangs"
run dmbackup start /dev/mapper/vol "$bdisk" --meta /dev/mapper/mdev --cbw-timeout 2000 \
	--track --force
run dmbackup wait /dev/mapper/vol --interval 0
fs_writes 4
tracking=$(table_of vol)
run dmsetup suspend --noflush sbgate
fs_writes 5
fails_soon "$DMBT_TMP/inc.out" dmbackup start --incremental /dev/mapper/vol
grep -q "lost its record of changes" "$DMBT_TMP/inc.out" ||
	fail "start --incremental does not say the record is lost"
[ "$(table_of vol)" = "$tracking" ] || fail "the refused increment changed vol: $(table_of vol)"
fs_writes 6
run dmsetup resume sbgate
wait_until 15 'the record on the device does not say lost' \
	sh -c 'dmbackup info /dev/mapper/mdev 2>&1 | grep -q "record lost"'

info "the device answers: start --incremental --or-full"
frozen_start /mnt/vol /dev/mapper/vol --incremental --or-full
run dmbackup wait /dev/mapper/vol --interval 0
same "$bdisk" "$DMBT_TMP/t0"
run dmbackup finish --stop-tracking /dev/mapper/vol
vol_untouched vol "$table0"
