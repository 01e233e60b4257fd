#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# `cancel` stops the job: state cancelled, the walk stops, later writes pass
# straight through without copying (the backup keeps what it had), and
# the origin gets every write.  Bad messages are refused with -EINVAL and a
# log line, and change nothing.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 51
fill_random "$b" 52
save_image "$o" "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
# 64 KiB/s: the job must still run after the bad messages below, which
# take half a minute on a debug kernel.
bk_create bk "$o" "$b" full 2 speed 65536

info "bad messages change nothing"
for m in "bogus" "cancel now" "speed" "speed abc" "speed -1" "speed 5X" \
	 "speed 18446744073709551616" "speed 1 2"; do
	# shellcheck disable=SC2086 # split the message into words
	if dmsetup message bk 0 $m 2>/dev/null; then
		fail "message '$m' accepted"
	fi
	dmesg | tail -n 3 | grep -q "backup" || fail "no log line for message '$m'"
	[ "$(backup_state bk)" = running ] || fail "message '$m' changed the state"
done
dmsetup table bk | grep -q "speed 65536" ||
	fail "a bad speed message changed the speed: $(dmsetup table bk)"

run dmsetup message bk 0 speed 1048576
wait_copied bk 8 60
run dmsetup message bk 0 cancel
wait_state bk cancelled 10
c1=$(bk_copied bk)
cbw=$(bk_cbw bk)
sleep 1.5
[ "$(bk_copied bk)" -eq "$c1" ] || fail "the walk went on after cancel"

info "writes after cancel pass through without copying"
write_at /dev/mapper/bk $((250 * CH)) $((2 * CH)) 53 "$DMBT_TMP/expect"
[ "$(bk_cbw bk)" -eq "$cbw" ] || fail "a write after cancel copied a chunk"
chunk_of "$b" 250 $CH "$DMBT_TMP/b250"
chunk_of "$DMBT_TMP/b0" 250 $CH "$DMBT_TMP/b0250"
same "$DMBT_TMP/b250" "$DMBT_TMP/b0250"
same "$o" "$DMBT_TMP/expect"

info "the chunks copied before cancel are T0"
dd if="$b" bs=$CH count=8 status=none >"$DMBT_TMP/bhead"
dd if="$DMBT_TMP/t0" bs=$CH count=8 status=none >"$DMBT_TMP/t0head"
same "$DMBT_TMP/bhead" "$DMBT_TMP/t0head"

run dmsetup message bk 0 cancel
[ "$(backup_state bk)" = cancelled ] || fail "a second cancel changed the state"
run dmsetup remove bk
