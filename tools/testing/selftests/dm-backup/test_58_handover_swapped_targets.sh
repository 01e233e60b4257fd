#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A table with two backup targets is reloaded mid-walk with its two segments
# swapped (the second half's target first): each new target still takes
# over its own job, matched by origin and backup device whatever its place
# in the table, and neither starts a new job with a new point in time.
# Writes before and after the reload.
# Oracles: each backup equals its half's T0 image, progress of each job
# never goes back, each origin holds T0 + writes.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

two_halves 580		# 256 chunks per half


run dmsetup create bk --table "0 $n backup $o1 $b1 full 2 speed 1048576
$n $n backup $o2 $b2 full 2 speed 1048576"
wait_until 60 'the walks did not start: $(dmsetup status bk)' halves_copied bk 16
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 585 60 2 512 262144 50 0 10
a1=$(bk_copied "bk#1")
c1=$(bk_copied "bk#2")
info "reload with the segments swapped at $a1 and $c1 chunks"
run dmsetup load bk --table "0 $n backup $o2 $b2 full 2 speed 1048576
$n $n backup $o1 $b1 full 2 speed 1048576"
run dmsetup suspend bk
run dmsetup resume bk
a2=$(bk_copied "bk#2")			# the table now lists o2 first
c2=$(bk_copied "bk#1")
info "after the reload: $a2 and $c2 chunks"
[ "$a2" -ge "$a1" ] || fail "the first half's progress went back from $a1 to $a2"
[ "$c2" -ge "$c1" ] || fail "the second half's progress went back from $c1 to $c2"
[ "$(dmesg | tail -n 20 | grep -c 'took over the running job')" -ge 2 ] ||
	fail "not both jobs were taken over: $(dmesg | tail -n 5)"

# The device now shows the second half first.
halves "$DMBT_TMP/expect" "$DMBT_TMP/ea" "$DMBT_TMP/eb"
cat "$DMBT_TMP/eb" "$DMBT_TMP/ea" >"$DMBT_TMP/expect"
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 586 60 2 512 262144 50 0 10

run dmsetup message bk 0 speed 0
run dmsetup message bk "$n" speed 0
wait_until 60 'the jobs did not complete: $(dmsetup status bk)' halves_state bk completed
same "$b1" "$DMBT_TMP/t0a"
same "$b2" "$DMBT_TMP/t0b"
halves "$DMBT_TMP/expect" "$DMBT_TMP/eb" "$DMBT_TMP/ea"
same "$o1" "$DMBT_TMP/ea"
same "$o2" "$DMBT_TMP/eb"
run dmsetup remove bk
