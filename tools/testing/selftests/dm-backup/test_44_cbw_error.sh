#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# on_cbw_error, when the copy a write waits for fails:
#   break_backup (default): the job fails, the write lands on the origin;
#   fail_write: the write fails with the copy's error and never reaches the
#   origin, the job goes on, and once the backup device is fixed the
#   backup still ends exactly T0.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048
CH=65536
o=$(mkloop 32) || exit 1
b=$(mkloop 32) || exit 1
fill_random "$o" 111
save_image "$o" "$DMBT_TMP/t0"
bad="0 $((8 * MB)) linear $b 0
$((8 * MB)) $((4 * MB)) error
$((12 * MB)) $((20 * MB)) linear $b $((12 * MB))"
run dmsetup create bkd --table "$bad"

info "break_backup: the write goes through, the job fails"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk "$o" /dev/mapper/bkd full 4 speed 65536 on_cbw_error break_backup
dmsetup table bk | grep -q on_cbw_error && fail "default policy printed in the table"
write_at /dev/mapper/bk $((150 * CH)) 4096 1 "$DMBT_TMP/expect"
wait_state bk failed 10
[ "$(backup_status bk last_error_chunk)" = 150 ] ||
	fail "last_error_chunk $(backup_status bk last_error_chunk)"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk

info "fail_write: the write fails, the origin keeps T0 there, the job goes on"
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk "$o" /dev/mapper/bkd full 4 speed 65536 on_cbw_error fail_write
dmsetup table bk | grep -q "on_cbw_error fail_write" || fail "table: $(dmsetup table bk)"
dmbt-prng 2 4096 >"$DMBT_TMP/w"
if dd if="$DMBT_TMP/w" of=/dev/mapper/bk bs=4096 seek=$((150 * 16)) oflag=direct \
	conv=notrunc status=none 2>/dev/null; then
	fail "the write whose copy failed succeeded"
fi
[ "$(backup_state bk)" = running ] || fail "job state $(backup_state bk), want running"
[ "$(backup_status bk target_errors)" -ge 1 ] || fail "target_errors not counted"
[ "$(backup_status bk last_error)" = -5 ] || fail "last_error $(backup_status bk last_error)"
same "$o" "$DMBT_TMP/expect"
info "writes elsewhere go on"
write_at /dev/mapper/bk $((300 * CH)) 8192 3 "$DMBT_TMP/expect"
info "fix the backup device; the write now succeeds; the backup ends exact"
run dmsetup load bkd --table "0 $((32 * MB)) linear $b 0"
run dmsetup suspend bkd
run dmsetup resume bkd
write_at /dev/mapper/bk $((150 * CH)) 4096 2 "$DMBT_TMP/expect"
run dmsetup message bk 0 speed 0
wait_state bk completed 60
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
run dmsetup remove bkd
