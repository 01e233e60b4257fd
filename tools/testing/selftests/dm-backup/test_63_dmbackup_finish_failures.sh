#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every failure of dmbackup finish leaves the volume as it was, with its job
# in place.  DMBACKUP_FAIL_AT=<step> makes one step fail as if its ioctl had
# failed (finish-load, finish-suspend, finish-resume, finish-resume-after:
# the resume succeeded, then "failed", so the backup table is loaded again
# and takes the job over), finish-remove; and a real failure: the hidden
# device held open, so finish cannot remove it and a second finish does.
# Oracles: the table, state and progress of the job are unchanged after each
# failure; the backup equals T0; after the final finish the volume has its
# original table and data (mounted: the writer's files are intact).
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 631
mkvol vol "$o"
table0=$(table_of vol)
save_image /dev/mapper/vol "$DMBT_TMP/t0"

info "finish fails at each step; the job stays in place"
run dmbackup start vol "$b"
run dmbackup wait vol
tbk=$(table_of vol)
for step in finish-load finish-suspend finish-resume finish-resume-after; do
	info "DMBACKUP_FAIL_AT=$step"
	DMBACKUP_FAIL_AT=$step dmbackup finish vol >"$DMBT_TMP/out" 2>&1
	rc=$?
	cat "$DMBT_TMP/out"
	[ $rc -eq 1 ] || fail "finish with $step failing: exit code $rc, want 1"
	[ "$(table_of vol)" = "$tbk" ] || fail "table after $step: $(table_of vol)"
	[ "$(table_of vol-dmbackup-origin)" = "$table0" ] || fail "hidden device changed"
	dmsetup info vol | grep -q '^Tables present: *LIVE$' || fail "tables: $(dmsetup info vol)"
	dmsetup info vol | grep -q '^State: *ACTIVE' || fail "vol is not active"
	[ "$(backup_state vol)" = completed ] || fail "job after $step: $(backup_status vol)"
done
[ "$(bk_copied vol)" -eq "$(bk_total vol)" ] || fail "progress lost: $(backup_status vol)"

info "finish-remove fails: the volume is restored, a second finish removes the rest"
DMBACKUP_FAIL_AT=finish-remove dmbackup finish vol && fail "finish-remove did not fail"
[ "$(table_of vol)" = "$table0" ] || fail "table after finish-remove: $(table_of vol)"
[ -n "$(table_of vol-dmbackup-origin)" ] || fail "the hidden device is gone"
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/t0"
same "$b" "$DMBT_TMP/t0"

info "a real failure: the hidden device is held open, finish cannot remove it"
b2=$(mkloop 16) || exit 1
run dmbackup start vol "$b2"
run dmbackup wait vol
exec 3</dev/mapper/vol-dmbackup-origin
dmbackup finish vol && fail "finish removed a device held open"
exec 3<&-
[ "$(table_of vol)" = "$table0" ] || fail "table: $(table_of vol)"
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/t0"
same "$b2" "$DMBT_TMP/t0"

info "mounted and written to: a failed finish of a running job"
run mke2fs -q -t ext4 -F /dev/mapper/vol
table0=$(table_of vol)
mkdir -p /mnt/vol
trap 'umount -l /mnt/vol 2>/dev/null' EXIT
run mount -t ext4 /dev/mapper/vol /mnt/vol
WRITER_MAX=16 writer_start /mnt/vol "$DMBT_TMP/stop"
run dmbackup start vol "$b" --speed 4M
DMBACKUP_FAIL_AT=finish-resume-after dmbackup finish --force vol && fail "no failure"
writer_beats "$DMBT_TMP/stop"
[ "$(backup_state vol)" = running ] || fail "the job did not go on: $(backup_status vol)"
run dmbackup wait vol
run dmbackup finish vol
writer_stop "$DMBT_TMP/stop"
vol_untouched vol "$table0"
files_intact /mnt/vol "$NWRITTEN"
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol
run e2fsck -fn "$b"
