#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Suspend stops the walk once its copies have drained (progress does not
# move while suspended); resume continues it; the backup still ends up
# equal to T0 with writes before and after the suspension.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 32) || exit 1		# 512 chunks
b=$(mkloop 32) || exit 1
fill_random "$o" 31
fill_random "$b" 32
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

bk_create bk "$o" "$b" full 2 speed 4194304
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 3 40 2 512 262144 50 0 10
wait_copied bk 16 60

for round in 1 2; do
	info "suspend, round $round"
	run dmsetup suspend bk
	p1=$(bk_copied bk)
	sleep 2
	p2=$(bk_copied bk)
	info "copied $p1 then $p2 while suspended"
	[ "$p1" -eq "$p2" ] || fail "the walk went on while suspended ($p1 -> $p2)"
	[ "$(backup_state bk)" = running ] || fail "state changed by suspend: $(backup_status bk)"
	run dmsetup resume bk
	wait_copied bk $((p2 + 8)) 60
	run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" $((round + 3)) 40 2 512 262144 50 0 10
done

run dmsetup message bk 0 speed 0
wait_state bk completed 120
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
