#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A failed copy fails the job, not the production volume: the backup device
# errors on its second half (dm-error), a write's copy and the walk hit it,
# the state becomes `failed`, the log names the chunk and errno, the status
# shows them, and every write, before and after, lands on the origin.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 71
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmsetup create badb --table "0 16384 linear $b 0
16384 16384 error"

bk_create bk "$o" /dev/mapper/badb full 2 speed 1048576
info "a write to chunk 200: its copy fails on the backup device"
write_at /dev/mapper/bk $((200 * CH + 4096)) 4096 72 "$DMBT_TMP/expect"
wait_state bk failed 10
info "status: $(backup_status bk)"
[ "$(backup_status bk last_error)" = -5 ] ||
	fail "last_error is $(backup_status bk last_error), want -5"
[ "$(backup_status bk last_error_chunk)" = 200 ] ||
	fail "last_error_chunk is $(backup_status bk last_error_chunk), want 200"
dmesg | grep -q "copy of chunk 200 failed on backup write: error -5" ||
	fail "the log does not name chunk 200 and the errno"

info "writes keep flowing to the origin"
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 73 60 2 512 262144 50 0 10
c1=$(bk_copied bk)
sleep 1
[ "$(bk_copied bk)" -eq "$c1" ] || fail "the walk went on after the failure"
[ "$(backup_state bk)" = failed ] || fail "state left failed"
same "$o" "$DMBT_TMP/expect"
same /dev/mapper/bk "$DMBT_TMP/expect"

info "a failed walk copy: unthrottled walk into the bad half"
run dmsetup remove bk
save_image "$o" "$DMBT_TMP/t1"
bk_create bk "$o" /dev/mapper/badb full
wait_state bk failed 60
info "status: $(backup_status bk)"
c=$(backup_status bk last_error_chunk)
[ "$c" -ge 128 ] || fail "failed at chunk $c, which is on the good half"
dmesg | grep -q "copy of chunk $c failed on backup write" || fail "no log line for chunk $c"
[ "$(bk_copied bk)" -lt 256 ] || fail "all chunks counted as copied despite the failure"
same "$o" "$DMBT_TMP/t1"
run dmsetup remove bk
run dmsetup remove badb
