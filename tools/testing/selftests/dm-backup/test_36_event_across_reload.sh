#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A job that fails just before a reload still raises its dm event: the walk
# copies in flight when the suspend of a reload drains them fail (their
# backup device, a gate, gets an error table), and the table that takes the
# failed job over must not swallow the event of that state change.
# `dmsetup wait` with the event number read before the failure returns.
# Oracles: dmsetup wait returns within 30 s of the reload, the event counter
# moved, the taken-over job shows the failure.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 361
n=$(sectors "$b")
run dmsetup create gate --table "0 $n linear $b 0"
trap 'dmsetup resume gate 2>/dev/null' EXIT

events() {
	dmsetup info -c --noheadings -o events "$1" | tr -d ' '
}

table=$(bk_table "$o" /dev/mapper/gate full 2 speed 1048576)
run dmsetup create bk --table "$table"
wait_copied bk 8
ev=$(events bk)
info "event number $ev; walk copies held at the gate"
run dmsetup suspend gate
sleep 1
run dmsetup load bk --table "$table"
dmsetup suspend bk &
s=$!
sleep 1
kill -0 "$s" 2>/dev/null || fail "the suspend did not wait for the walk copies"
info "the gate fails them while the suspend drains"
run dmsetup load gate --table "0 $n error"
run dmsetup resume gate
wait "$s" || fail "dmsetup suspend bk failed"
run dmsetup resume bk
dmesg | tail -n 10 | grep -q "took over the running job" || fail "no handover logged"
[ "$(backup_state bk)" = failed ] || fail "the job did not fail: $(backup_status bk)"

dmsetup wait bk "$ev" &
w=$!
wait_until 30 "dmsetup wait $ev did not return: events \$(events bk), \$(backup_status bk)" \
	proc_gone "$w"
wait "$w" || fail "dmsetup wait failed"
[ "$(events bk)" -gt "$ev" ] || fail "event counter did not move"
run dmsetup remove bk
run dmsetup remove gate
