#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The speed knob limits the walk, and changing it mid-job through each of
# the three interfaces (table option, message, sysfs) takes effect and shows
# the same value everywhere.  Rates are checked with wide margins (TCG is
# noisy); precise figures belong to the benchmark.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 64) || exit 1		# 1024 chunks
b=$(mkloop 64) || exit 1
fill_random "$o" 81
save_image "$o" "$DMBT_TMP/t0"
now() { cut -d' ' -f1 /proc/uptime; }

# rate_over <seconds>: walk rate in bytes/s measured over a window.
rate_over() {
	_c0=$(bk_copied bk) _t0=$(now)
	sleep "$1"
	_c1=$(bk_copied bk) _t1=$(now)
	echo "$_c0 $_c1 $_t0 $_t1" | awk '{ printf "%d", ($2 - $1) * 65536 / ($4 - $3) }'
}

# expect_rate <bytes_per_s>: measured rate within [0.5x, 1.5x].
expect_rate() {
	sleep 0.5	# let a change settle: one slice is 100 ms
	r=$(rate_over 3)
	info "speed $1: measured $r bytes/s"
	[ "$r" -ge $(($1 / 2)) ] && [ "$r" -le $(($1 * 3 / 2)) ] ||
		fail "rate $r bytes/s is not within 50% of $1"
}

# same_speed <bytes_per_s>: table, status and sysfs agree.
same_speed() {
	dmsetup table bk | grep -q " speed $1\( \|$\)" ||
		fail "table: $(dmsetup table bk), want speed $1"
	[ "$(backup_status bk speed)" = "$1" ] ||
		fail "status speed $(backup_status bk speed), want $1"
	[ "$(cat "$sys/speed")" = "$1" ] || fail "sysfs speed $(cat "$sys/speed"), want $1"
}

bk_create bk "$o" "$b" full 2 speed 1048576
sys=/sys/block/$(dmsetup info -c --noheadings -o blkdevname bk)/backup
same_speed 1048576
expect_rate 1048576

run dmsetup message bk 0 speed 4194304
same_speed 4194304
expect_rate 4194304

echo 2M >"$sys/speed" || fail "sysfs write 2M failed"
same_speed 2097152
expect_rate 2097152

info "a change reaches a walk that sleeps out a long debt"
run dmsetup message bk 0 speed 4096	# one chunk is 16 s of budget
sleep 1
c=$(bk_copied bk)
sleep 2
[ "$(bk_copied bk)" -le $((c + 1)) ] || fail "the walk ignored speed 4096"
echo 0 >"$sys/speed" || fail "sysfs write 0 failed"
wait_state bk completed 30
same "$b" "$DMBT_TMP/t0"
run dmsetup remove bk
