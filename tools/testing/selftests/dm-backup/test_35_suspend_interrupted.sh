#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A suspend that dm gives up on does not stop the walk: dm calls the
# targets' presuspend, then waits for the bios in flight; a signal to the
# suspending process ends that wait, and dm undoes the presuspend
# (presuspend_undo) and leaves the device live.  The walk must go on.
# Made deterministic by a gate (a suspended dm-linear backup device): under
# on_cbw_error fail_write a write waits for its copy's backup write, so it
# stays in flight and `dmsetup suspend` waits for it until it is killed.
# Oracles: the device is live after the kill, the job completes, the backup
# equals T0 and the origin T0 + writes.
# timeout: 300
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 351
fill_random "$b" 352
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmsetup create gate --table "0 $(sectors "$b") linear $b 0"
trap 'dmsetup resume gate 2>/dev/null' EXIT

bk_create bk "$o" /dev/mapper/gate full 4 speed 1048576 on_cbw_error fail_write
wait_copied bk 8

info "a write parked behind the shut gate"
run dmsetup suspend gate
rm -f "$DMBT_TMP/done"
(write_at /dev/mapper/bk $((200 * CH + 4096)) 4096 353 "$DMBT_TMP/expect" &&
	touch "$DMBT_TMP/done") &
sleep 1
[ -e "$DMBT_TMP/done" ] && fail "the write returned before its copy landed"

info "dmsetup suspend waits for it; kill it"
dmsetup suspend bk &
s=$!
sleep 2
kill -0 "$s" 2>/dev/null || fail "dmsetup suspend returned with a write in flight"
kill -9 "$s"
wait "$s" && fail "the killed dmsetup suspend succeeded"
dmsetup info bk | grep -q "State: *ACTIVE" ||
	fail "the device is not live after the interrupted suspend: $(dmsetup info bk)"
dmesg | tail -n 5

info "open the gate: the write lands, the walk goes on"
run dmsetup resume gate
wait_until 30 'the write did not return after the gate opened' test -e "$DMBT_TMP/done"
p1=$(bk_copied bk)
sleep 2
p2=$(bk_copied bk)
info "copied $p1, 2 s later $p2"
# A slow kernel (the debug one) may have let the walk finish meanwhile.
[ "$p2" -gt "$p1" ] || state_is bk completed ||
	fail "the walk stalled after the interrupted suspend: $(backup_status bk)"
run dmsetup message bk 0 speed 0
wait_state bk completed 60
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
run dmsetup remove gate
