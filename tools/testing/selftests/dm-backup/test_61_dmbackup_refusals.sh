#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup refuses clearly (exit 1 and a message naming the problem) and
# changes nothing: a volume that is not a dm device, a backup already on it,
# a backup device that is too small, the volume itself, held by a dm device,
# mounted or not a block device; bad options exit 2.  The job messages
# (pause, resume, speed, cancel) work, and wait's exit code tells completed
# (0), failed (3) and cancelled (4) apart.
# Oracle: after every refusal the volume has its original table, no hidden
# device, and its data equals the image taken before.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
b2=$(mkloop 16) || exit 1
small=$(mkloop 8) || exit 1
held=$(mkloop 16) || exit 1
mnt=$(mkloop 16) || exit 1
fill_random "$o" 611
mkvol vol "$o"
table0=$(table_of vol)
save_image /dev/mapper/vol "$DMBT_TMP/t0"
mkdir -p /mnt/m
trap 'umount -l /mnt/m 2>/dev/null' EXIT

info "refusals: the volume"
expect_refusal "not a device-mapper device" dmbackup start "$o" "$b"
expect_refusal "No such file" dmbackup start /dev/mapper/nothing "$b"
expect_refusal "no such device-mapper device" dmbackup start nothing "$b"

info "refusals: the backup device"
expect_refusal "too small: 16384 sectors, the volume has 32768" dmbackup start vol "$small"
expect_refusal "is the volume itself" dmbackup start /dev/mapper/vol /dev/mapper/vol
expect_refusal "in use: held by dm-" dmbackup start vol "$o"
run dmsetup create holder --table "0 $(sectors "$held") linear $held 0"
expect_refusal "in use: held by dm-" dmbackup start vol "$held"
run mke2fs -q -t ext4 -F "$mnt"
run mount -t ext4 "$mnt" /mnt/m
expect_refusal "in use" dmbackup start vol "$mnt"
run umount /mnt/m
: >"$DMBT_TMP/file"
expect_refusal "not a block device" dmbackup start vol "$DMBT_TMP/file"
vol_untouched vol "$table0" "$DMBT_TMP/t0"

info "bad options exit 2"
for opts in "--speed abc" "--speed 5X" "--chunk-size 100" "--chunk-size 4096" \
	    "--mode top" "--on-cbw-error x" "--on-source-error enospc" "--bogus 1"; do
	# shellcheck disable=SC2086
	dmbackup start vol "$b" $opts >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || fail "start $opts: exit code $rc, want 2"
done
dmbackup start vol >/dev/null 2>&1; [ $? -eq 2 ] || fail "start without a backup device"
dmbackup frobnicate vol >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command"
for c in start status wait speed pause resume cancel finish; do
	dmbackup $c --help | grep -q "^usage: dmbackup $c" || fail "no --help for $c"
done
vol_untouched vol "$table0" "$DMBT_TMP/t0"

info "a job: a second start and an early finish are refused"
run dmbackup start vol "$b" --speed 1M --chunk-size 256 --on-target-error stop
dmsetup table vol | grep -q " full 6 speed 1048576 chunk_size 256 on_target_error stop$" ||
	fail "options not in the table: $(table_of vol)"
expect_refusal "a backup job is already on this volume (state running)" dmbackup start vol "$b2"
expect_refusal "still running" dmbackup finish vol
expect_refusal "no backup job runs on this volume" dmbackup pause holder
expect_refusal "no backup job runs on this volume" dmbackup finish holder

info "messages: pause, resume, speed"
run dmbackup pause /dev/mapper/vol
[ "$(backup_state vol)" = paused ] || fail "pause: $(backup_status vol)"
run dmbackup resume vol
[ "$(backup_state vol)" = running ] || fail "resume: $(backup_status vol)"
run dmbackup speed vol 2M
dmsetup table vol | grep -q "speed 2097152 " || fail "speed: $(table_of vol)"
dmbackup speed vol abc 2>/dev/null; [ $? -eq 2 ] || fail "speed abc: want exit code 2"

info "cancel: wait exits 4, then pause is refused and finish restores"
run dmbackup cancel vol
dmbackup wait vol >"$DMBT_TMP/w" 2>&1
rc=$?
cat "$DMBT_TMP/w"
[ $rc -eq 4 ] || fail "wait after cancel: exit code $rc, want 4"
expect_refusal "refused 'pause' (state cancelled)" dmbackup pause vol
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/t0"

info "a job that fails (the backup device is a dm error target): wait exits 3"
run dmsetup create bad --table "0 32768 error"
run dmbackup start vol /dev/mapper/bad
dmbackup wait vol >"$DMBT_TMP/w" 2>&1
rc=$?
cat "$DMBT_TMP/w"
[ $rc -eq 3 ] || fail "wait on a failed job: exit code $rc, want 3"
re="^vol: full failed .* errors [1-9][0-9]* "
re="$re\(source 0, target [1-9][0-9]*, skipped 0, last -5 at chunk [0-9]+\)"
re="$re job [0-9a-f-]{36} volatile$"
grep -Eq "$re" "$DMBT_TMP/w" ||
	fail "no failed line with the error"
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/t0"

info "a job that completes: wait exits 0 and the backup equals T0"
run dmbackup start vol "$b2"
run dmbackup wait vol
run dmbackup wait vol		# an ended job: returns at once
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/t0"
same "$b2" "$DMBT_TMP/t0"
expect_refusal "no backup job runs on this volume" dmbackup finish vol
