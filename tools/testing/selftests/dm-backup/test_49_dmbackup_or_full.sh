#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# `dmbackup start --incremental --or-full` on a mounted ext4 volume being
# written: when no exact increment can be made, a full backup that tracks
# changes replaces the tracking job, and says so and why; without
# --or-full the increment is refused, names the reason and the option, and
# changes nothing.  Two reasons: (1) the job lost its record (its metadata
# device, a dm-linear, suspended longer than cbw_timeout while a write
# waited for its mark, under break_backup), (2) the previous job, an
# increment, was cancelled; a running job is refused even with --or-full.
# A failure injected in the fallback (DMBACKUP_FAIL_AT), before and after
# the full job's resume, leaves the old tracking job in place (also an
# increment's).
# Oracles: after each full backup and after the plain increment that
# follows it, the backup device equals the volume's image taken at its
# point in time (the file system frozen around the command, as
# frozen_start does); a refusal or a failed fallback leaves the table
# line and the metadata device's md5sum as they were (taken while the file
# system is frozen, so that nothing may write the record meanwhile), and
# the old job's uuid, state and record in the status.
# tier: user
# timeout: 150
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

disk=$(mkloop 16) || exit 1
bdisk=$(mkloop 16) || exit 1
mloop=$(mkloop 1) || exit 1
export DMBACKUP_JOBS_DIR="$DMBT_TMP/jobs"
run dmsetup create mgate --table "0 $(sectors "$mloop") linear $mloop 0"
meta=/dev/mapper/mgate
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 4 4900
WRITER_MAX=8
writer_start /mnt/vol "$DMBT_TMP/stop"

# frozen <k> <dmbackup start args...>: freeze the file system, image the
# volume as t<k> (O_DIRECT), run dmbackup start, thaw; its output goes to
# $DMBT_TMP/out<k>.  Fails if start failed.
frozen() {
	_fr_k=$1
	shift
	run fsfreeze --freeze /mnt/vol
	dd if=/dev/mapper/vol of="$DMBT_TMP/t$_fr_k" bs=1M iflag=direct status=none ||
		{ fsfreeze --unfreeze /mnt/vol; fail "cannot image the volume"; }
	dmbackup start "$@" >"$DMBT_TMP/out$_fr_k" 2>&1
	_fr_rc=$?
	fsfreeze --unfreeze /mnt/vol
	cat "$DMBT_TMP/out$_fr_k"
	[ $_fr_rc -eq 0 ] || fail "dmbackup start $* failed (rc $_fr_rc)"
}

# done_equals <k>: the job completes and the backup device equals t<k>.
done_equals() {
	run dmbackup wait /dev/mapper/vol --interval 0
	same "$bdisk" "$DMBT_TMP/t$1"
}

# snapshot: the table line, the job's uuid, state and record, and the
# metadata's md5sum (O_DIRECT: the kernel writes it past the page cache),
# as one string.
snapshot() {
	echo "$(table_of vol) | $(backup_status vol job_uuid) $(backup_state vol)" \
		"$(backup_status vol changed) |" \
		"$(dd if="$meta" bs=64K iflag=direct status=none | md5sum)"
}

# unchanged_by <pattern> <dmbackup args...>: with the file system frozen,
# the command exits 1 saying pattern (no pattern: a failure injected at
# step $STEP), and the volume's snapshot and state are as before.
unchanged_by() {
	_ub_pat=$1
	shift
	run fsfreeze --freeze /mnt/vol
	_ub_before=$(snapshot)
	if [ -n "$_ub_pat" ]; then
		_ub_out=$(dmbackup "$@" 2>&1)
	else
		_ub_out=$(DMBACKUP_FAIL_AT=$STEP dmbackup "$@" 2>&1)
	fi
	_ub_rc=$?
	_ub_after=$(snapshot)
	_ub_info=$(dmsetup info vol)
	fsfreeze --unfreeze /mnt/vol
	echo "  dmbackup $* -> rc $_ub_rc: $_ub_out"
	[ $_ub_rc -eq 1 ] || fail "dmbackup $*: exit code $_ub_rc, want 1"
	if [ -n "$_ub_pat" ]; then
		echo "$_ub_out" | grep -q -- "$_ub_pat" || fail "no '$_ub_pat' in: $_ub_out"
	else
		echo "$_ub_out" | grep -q "simulating a failure" || fail "$STEP not reached"
	fi
	[ "$_ub_after" = "$_ub_before" ] ||
		fail "dmbackup $*: changed '$_ub_before' into '$_ub_after'"
	echo "$_ub_info" | grep -q '^State: *ACTIVE' || fail "vol is not active: $_ub_info"
	echo "$_ub_info" | grep -q '^Tables present: *LIVE$' || fail "tables: $_ub_info"
}

# fell_back <k> <old uuid> <reason>: out<k> says why it fell back, and that
# a new full job replaced the old one; it tracks changes.
fell_back() {
	grep -q "^vol: no increment can be made: .*$3.*; falling back to a full backup" \
		"$DMBT_TMP/out$1" || fail "the fallback does not say why"
	grep -q "^vol: full backup .* started in place of job $2: .*tracking changes" \
		"$DMBT_TMP/out$1" || fail "the fallback does not say what it started"
	[ "$(backup_status vol job_uuid)" != "$2" ] || fail "the old job $2 is still there"
	table_of vol | grep -q " full [0-9]* .* track on$" ||
		fail "not a full tracking job: $(table_of vol)"
}

# increment_exact <k> <parent uuid>: a plain increment after writes is
# exact: the backup device equals t<k>.
increment_exact() {
	dmbt-prng "$((4950 + $1))" 1M >"/mnt/vol/inc-$1"
	sync
	frozen "$1" --incremental /dev/mapper/vol
	grep -q "^vol: increment .* of job $2 started" "$DMBT_TMP/out$1" ||
		fail "not an increment of $2"
	done_equals "$1"
}

info "the full backup, tracking, on a metadata device that can stall"
frozen 0 /dev/mapper/vol "$bdisk" --meta "$meta" --track --force --cbw-timeout 2000
done_equals 0
uuid=$(backup_status vol job_uuid)

info "(1) the record is lost: the metadata device stalls while a file is written"
run dmsetup suspend --noflush mgate
dmbt-prng 4940 1M >/mnt/vol/lost
sync
run dmsetup resume mgate
[ "$(backup_status vol changed)" = lost ] || fail "record not lost: $(backup_status vol)"
wait_until 10 "the superblock does not say lost: \$(dmbackup info $meta)" \
	sh -c "dmbackup info $meta | grep -q 'record lost'"
unchanged_by "lost its record.*--or-full" start --incremental /dev/mapper/vol

# Two steps of seven, for time: after the wipe (the metadata is written
# back, the old table loaded again), and after the full job was live.
info "(3) a failure in the fallback leaves the old job in place"
for STEP in full-load full-resume-after; do
	unchanged_by "" start --incremental /dev/mapper/vol --or-full
done
writer_beats "$DMBT_TMP/stop"

info "(1) with --or-full: a full backup in its place"
frozen 1 --incremental /dev/mapper/vol --or-full
fell_back 1 "$uuid" "lost its record"
done_equals 1
uuid=$(backup_status vol job_uuid)
increment_exact 2 "$uuid"
uuid=$(backup_status vol job_uuid)

info "(2) the previous job, an increment, is cancelled"
dmbt-prng 4960 2M >/mnt/vol/big
sync
run dmbackup start --incremental /dev/mapper/vol --speed 64K
expect_refusal "has not completed (state running.*cancel it first" \
	dmbackup start --incremental /dev/mapper/vol --or-full
run dmbackup cancel /dev/mapper/vol
[ "$(backup_state vol)" = cancelled ] || fail "not cancelled: $(backup_status vol)"
uuid=$(backup_status vol job_uuid)
unchanged_by "was cancelled.*--or-full" start --incremental /dev/mapper/vol
# The old job is an increment: the undo loads its table, "increment <uuid>".
STEP=full-resume-after
unchanged_by "" start --incremental /dev/mapper/vol --or-full --speed 0
frozen 3 --incremental /dev/mapper/vol --or-full --speed 0 --list "$DMBT_TMP/list3"
fell_back 3 "$uuid" "was cancelled"
[ "$(cat "$DMBT_TMP/list3")" = "0 $((16 << 20))" ] ||
	fail "--list of the full backup: $(cat "$DMBT_TMP/list3")"
done_equals 3
uuid=$(backup_status vol job_uuid)
increment_exact 4 "$uuid"

writer_stop "$DMBT_TMP/stop"
info "$NWRITTEN files written during the test"
grep -q "^meta=$meta$" "$DMBACKUP_JOBS_DIR/vol.conf" ||
	fail "no job file for reinstate: $(cat "$DMBACKUP_JOBS_DIR/vol.conf" 2>&1)"
run dmbackup finish --stop-tracking /dev/mapper/vol
before_intact /mnt/vol 4 4900
files_intact /mnt/vol "$NWRITTEN"
run umount /mnt/vol
info "the last backup is a clean file system"
run e2fsck -fn "$bdisk"
