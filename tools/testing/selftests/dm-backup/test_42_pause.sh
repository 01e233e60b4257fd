#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# pause stops the walk but not copy-before-write: under writes the backup
# stays the point-in-time image; resume completes it bit-exact.  pause and
# resume of an ended job are refused.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 32) || exit 1
b=$(mkloop 32) || exit 1
fill_random "$o" 91
fill_random "$b" 92
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk "$o" "$b" full 2 speed 2097152
wait_copied bk 8 60
run dmsetup message bk 0 pause
wait_state bk paused 10
walked=$(($(bk_copied bk) - $(bk_cbw bk)))
sleep 1
info "writes while paused"
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 93 120 4 512 524288 50 0 10
sleep 1
[ "$(backup_state bk)" = paused ] || fail "state left paused: $(backup_status bk)"
w=$(($(bk_copied bk) - $(bk_cbw bk)))
[ "$w" -eq "$walked" ] || fail "the walk copied $((w - walked)) chunks while paused"
[ "$(bk_cbw bk)" -gt 0 ] || fail "no copy-before-write while paused"
info "status while paused: $(backup_status bk)"

run dmsetup message bk 0 resume
wait_state bk running 10
run dmsetup message bk 0 speed 0
wait_state bk completed 120
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"

dmsetup message bk 0 pause 2>/dev/null && fail "pause of a completed job accepted"
dmsetup message bk 0 resume 2>/dev/null && fail "resume of a completed job accepted"
[ "$(backup_state bk)" = completed ] || fail "state changed"
run dmsetup remove bk
