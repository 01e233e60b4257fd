#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A huge speed throttles nothing: the walk's quota per 100 ms slice is
# speed / 10 bytes, computed without overflowing 64 bits, so speeds up to
# 18446744073709551615 act as unlimited.  Before, speed * 10^8 wrapped:
# speed 184467440738 gave a quota of one byte per slice and the walk
# crawled.  Each job, started with the speed in the table or set by a
# message during a crawling walk, must copy 16 MiB within a time that a
# few bytes per slice never meet, and the backup must equal T0.
# timeout: 480
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 461
save_image "$o" "$DMBT_TMP/t0"

# speed * 10^8 mod 2^64 is below 10^9 for the first three (a quota of one
# byte per slice), 2^63 wraps to 0; U64_MAX and U64_MAX / 10 are the top.
seed=462
for speed in 184467440738 368934881475 9223372036854775808 \
	1844674407370955161 18446744073709551615; do
	info "speed $speed in the table"
	fill_random "$b" $seed
	seed=$((seed + 1))
	bk_create bk "$o" "$b" full 2 speed "$speed"
	[ "$(backup_status bk speed)" = "$speed" ] ||
		fail "status speed $(backup_status bk speed), want $speed"
	wait_state bk completed 60
	run dmsetup remove bk
	same "$b" "$DMBT_TMP/t0"
done

info "speed 184467440738 by message frees a crawling walk"
fill_random "$b" $seed
bk_create bk "$o" "$b" full 2 speed 1
sleep 1
[ "$(backup_state bk)" = running ] || fail "speed 1: $(backup_status bk)"
run dmsetup message bk 0 speed 184467440738
wait_state bk completed 60
run dmsetup remove bk
same "$b" "$DMBT_TMP/t0"
