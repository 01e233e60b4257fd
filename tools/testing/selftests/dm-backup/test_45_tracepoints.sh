#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The dm_backup trace events fire with the right fields: state changes,
# the walk's copies, copy-before-write enter/skip/process/wait/return,
# finished copies and write failures.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

T=/sys/kernel/tracing
[ -d $T/events ] || T=/sys/kernel/debug/tracing
[ -d $T/events/dm_backup ] || fail "no dm_backup events in $T/events"
for e in cow_enter cow_return cow_skip cow_process cow_wait walk_copy \
	 copy_done read_fail write_fail state; do
	[ -d "$T/events/dm_backup/dm_backup_$e" ] || fail "event dm_backup_$e missing"
done

MB=2048
CH=65536
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 121
cp /dev/null "$DMBT_TMP/expect"
save_image "$o" "$DMBT_TMP/expect"
run dmsetup create slowb --table "0 $((16 * MB)) delay $b 0 0 $b 0 1500"
echo 0 >$T/tracing_on
echo >$T/trace
echo 1 >$T/events/dm_backup/enable
echo 1 >$T/tracing_on

bk_create bk "$o" /dev/mapper/slowb full 2 speed 65536
dev=$(dmsetup info -c --noheadings -o major,minor --separator : bk | tr -d ' ')
sleep 0.5
# chunk 0 is being copied by the walk: this write waits (cow_wait)
write_at /dev/mapper/bk 4096 4096 1 "$DMBT_TMP/expect"
# chunks 100-101: not copied, this write starts their copy (cow_process)
write_at /dev/mapper/bk $((100 * CH + 512)) $((CH + 1024)) 2 "$DMBT_TMP/expect"
# chunk 100 again once its copy landed (the write above returned when the
# chunks were read): copied, no cow events at all
wait_cbw bk 2
write_at /dev/mapper/bk $((100 * CH)) 512 3 "$DMBT_TMP/expect"
# chunks 100-102: 100-101 copied (cow_skip), 102 not (cow_process)
write_at /dev/mapper/bk $((100 * CH)) $((3 * CH)) 4 "$DMBT_TMP/expect"
run dmsetup message bk 0 speed 0
wait_state bk completed 60
run dmsetup remove bk
echo 0 >$T/tracing_on
cat $T/trace >"$DMBT_TMP/trace"
grep -c dm_backup "$DMBT_TMP/trace"

has() {
	grep -q "$1" "$DMBT_TMP/trace" || fail "no trace line matching '$1'"
	echo "found: $(grep -m1 "$1" "$DMBT_TMP/trace" | sed 's/.*: dm_backup/dm_backup/')"
}
has "dm_backup_walk_copy: dev $dev chunk 0 nr_chunks 1"
has "dm_backup_cow_enter: dev $dev sector 8 nr_sectors 8 chunks 0-0"
has "dm_backup_cow_wait: dev $dev chunk 0 nr_chunks 1"
has "dm_backup_cow_return: dev $dev sector 8 nr_sectors 8 ret 0"
has "dm_backup_cow_enter: dev $dev sector 12801 nr_sectors 130 chunks 100-101"
has "dm_backup_cow_process: dev $dev chunk 100 nr_chunks 2"
has "dm_backup_cow_enter: dev $dev sector 12800 nr_sectors 384 chunks 100-102"
has "dm_backup_cow_skip: dev $dev chunk 100 nr_chunks 2"
has "dm_backup_cow_process: dev $dev chunk 102 nr_chunks 1"
has "dm_backup_copy_done: dev $dev chunk 100 nr_chunks 2"
has "dm_backup_state: dev $dev running -> completed"
grep -q "dm_backup_cow_enter: dev $dev sector 12800 nr_sectors 1 " "$DMBT_TMP/trace" &&
	fail "a write to a copied chunk entered copy-before-write"

info "a failing backup write traces write_fail and the state change"
echo >$T/trace
echo 1 >$T/tracing_on
run dmsetup create badb --table "0 $((16 * MB)) error"
bk_create bk2 "$o" /dev/mapper/badb full
dev=$(dmsetup info -c --noheadings -o major,minor --separator : bk2 | tr -d ' ')
wait_state bk2 failed 30
echo 0 >$T/tracing_on
cat $T/trace >"$DMBT_TMP/trace"
# Copies of many chunks are in flight at once: which single-chunk retry
# fails first and fails the job is a matter of timing, and copies whose
# read returns after that are dropped untraced.
has "dm_backup_write_fail: dev $dev chunk [0-9]* nr_chunks 1 err -5"
has "dm_backup_state: dev $dev running -> failed"
echo 0 >$T/events/dm_backup/enable
run dmsetup remove bk2
run dmsetup remove badb
run dmsetup remove slowb
same "$o" "$DMBT_TMP/expect"
