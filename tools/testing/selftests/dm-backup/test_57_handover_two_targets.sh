#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A table with two backup targets, each half of the device backed up to its
# own backup device, is reloaded mid-walk with the same two targets: each
# new target takes over its own job (matched by origin and backup device),
# not one of them the first job and the other a new job with a new point in
# time.  Writes before and after the reload.
# Oracles: each backup equals its half's T0 image, progress of each target
# never goes back, each origin holds T0 + writes; views of either job (the
# device's, at sector 0, and the second half's by its devices) read T0.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

two_halves 570		# 256 chunks per half

table="0 $n backup $o1 $b1 full 2 speed 1048576
$n $n backup $o2 $b2 full 2 speed 1048576"

run dmsetup create bk --table "$table"
wait_until 60 'the walks did not start: $(dmsetup status bk)' halves_copied bk 16
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 575 60 2 512 262144 50 0 10
a1=$(bk_copied "bk#1")
c1=$(bk_copied "bk#2")
info "reload with the same two targets at $a1 and $c1 chunks"
run dmsetup load bk --table "$table"
run dmsetup suspend bk
run dmsetup resume bk
a2=$(bk_copied "bk#1")
c2=$(bk_copied "bk#2")
info "after the reload: $a2 and $c2 chunks"
[ "$a2" -ge "$a1" ] || fail "the first target's progress went back from $a1 to $a2"
[ "$c2" -ge "$c1" ] || fail "the second target's progress went back from $c1 to $c2"
[ "$(dmesg | tail -n 20 | grep -c 'took over the running job')" -ge 2 ] ||
	fail "not both jobs were taken over: $(dmesg | tail -n 5)"
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 576 60 2 512 262144 50 0 10

info "a view naming the device shows the job at its sector 0; one naming"
info "the second half's devices shows that one"
run dmsetup create va --table "0 $n backup-view /dev/mapper/bk"
run dmsetup create vb --table "0 $n backup-view $o2 $b2"
drop_caches /dev/mapper/va /dev/mapper/vb
same /dev/mapper/va "$DMBT_TMP/t0a"
same /dev/mapper/vb "$DMBT_TMP/t0b"
run dmsetup remove va
run dmsetup remove vb

run dmsetup message bk 0 speed 0
run dmsetup message bk "$n" speed 0
wait_until 60 'the jobs did not complete: $(dmsetup status bk)' halves_state bk completed
same "$b1" "$DMBT_TMP/t0a"
same "$b2" "$DMBT_TMP/t0b"
halves "$DMBT_TMP/expect" "$DMBT_TMP/ea" "$DMBT_TMP/eb"
same "$o1" "$DMBT_TMP/ea"
same "$o2" "$DMBT_TMP/eb"
run dmsetup remove bk
