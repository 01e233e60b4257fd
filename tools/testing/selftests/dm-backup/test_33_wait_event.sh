#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every state change raises a dm event: `dmsetup wait` sleeps while the job
# runs and wakes when it completes (and when it is cancelled).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 61
save_image "$o" "$DMBT_TMP/t0"

events() {
	dmsetup info -c --noheadings -o events "$1" | tr -d ' '
}

for how in complete cancel; do
	info "dmsetup wait wakes on $how"
	bk_create bk "$o" "$b" full 2 speed 1048576
	ev=$(events bk)
	dmsetup wait bk "$ev" &
	w=$!
	sleep 2
	kill -0 "$w" 2>/dev/null ||
		fail "dmsetup wait returned while the job runs: $(backup_status bk)"
	[ "$(backup_state bk)" = running ] || fail "job not running"
	if [ "$how" = complete ]; then
		run dmsetup message bk 0 speed 0
		want=completed
	else
		run dmsetup message bk 0 cancel
		want=cancelled
	fi
	wait_until 60 'dmsetup wait did not wake within 60 s: $(backup_status bk)' proc_gone "$w"
	wait "$w" || fail "dmsetup wait failed"
	[ "$(backup_state bk)" = "$want" ] || fail "woke, but state is $(backup_state bk)"
	[ "$(events bk)" -gt "$ev" ] || fail "event counter did not move"
	[ "$how" = complete ] && same "$b" "$DMBT_TMP/t0"
	run dmsetup remove bk
done
