#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The copies' memory reserves suffice (review findings 10 and 11): with
# fail_dm_backup_alloc failing every allocation of a copy structure or a
# buffer page from the system, copies live on the mempool reserves alone.
#   A. full job, 8 writers with large writes to uncopied chunks while the
#      walk runs: every copy completes, backup == T0, origin == expected.
#      The pages of ended copies must reach the worker sleeping in the
#      page pool, not the private page cache (finding 10).
#   B. none job with a view read in full under writes: every read == T0.
#      A view read re-routed from copy_wq does not sleep there for a copy
#      structure: it is retried from the view's workqueue (finding 11).
# The knob counts injected failures down in "times": it must have fired.
# requires: /sys/kernel/debug/fail_dm_backup_alloc
# timeout: 600
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

F=/sys/kernel/debug/fail_dm_backup_alloc
[ -d $F ] || skip "$F missing: needs CONFIG_FAULT_INJECTION_DEBUG_FS (make check-debug)"
TIMES=1000000000
# Every allocation fails, silently (verbose 0: no stack in the kernel log).
fault_on() {
	echo 0 >$F/verbose
	echo 1 >$F/interval
	echo $TIMES >$F/times
	echo 100 >$F/probability
}
fault_off() {
	echo 0 >$F/probability
}
fired() {
	echo $((TIMES - $(cat $F/times)))
}

o=$(mkloop 64) || exit 1
b=$(mkloop 64) || exit 1
n=$(sectors "$o")
fill_random "$o" 37
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

info "A: full job on the reserves alone, 8 writers"
# The pools fill their reserves in the constructor: load first.
bk_create bk "$o" "$b" full 2 speed 8388608
fault_on
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 37 240 8 32768 1048576 80 0 0 ||
	fail "writes failed"
run dmsetup message bk 0 speed 0
wait_state bk completed 300
info "A: $(fired) allocations failed; status: $(backup_status bk)"
[ "$(fired)" -gt 0 ] || fail "A: the fault never fired"
[ "$(bk_cbw bk)" -gt 0 ] || fail "A: no copy-before-write happened"
fault_off
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk

info "B: none job and its view on the reserves alone"
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk "$o" "$b" none
run dmsetup create view --table "0 $n backup-view $o $b"
fault_on
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 38 300 4 4096 262144 50 0 0 &
io=$!
for i in 1 2; do
	dd if=/dev/mapper/view of="$DMBT_TMP/v" bs=1M iflag=direct status=none ||
		fail "B: reading the view failed"
	same "$DMBT_TMP/v" "$DMBT_TMP/t0"
	info "B: read $i of the view equals T0 (copied so far: $(bk_copied bk))"
done
wait "$io" || fail "B: writes failed"
info "B: $(fired) allocations failed"
[ "$(fired)" -gt 0 ] || fail "B: the fault never fired"
[ "$(bk_copied bk)" -gt 0 ] || fail "B: the writes copied nothing"
fault_off
run dmsetup remove view
run dmsetup message bk 0 cancel
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"
