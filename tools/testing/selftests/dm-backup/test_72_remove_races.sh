#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Removal and unload races.  The origin's reads and the backup device's
# writes sit behind dm-delay (1 s each), so writes to uncopied chunks wait
# on slow copy reads, and copies stay in flight after the writes returned.
#  - `dmsetup remove` while writers hold the device open fails with EBUSY
#    ("Device or resource busy") and changes nothing; the job goes on.
#  - `rmmod dm-backup` while a device exists fails and the module stays.
#  - `dmsetup remove --deferred` while open succeeds at once; the device
#    goes when the last writer closes it.
#  - plain `dmsetup remove` right after the writers close, with walk
#    copies still in flight, waits for the copies and succeeds.
# Oracle: the origin holds every acknowledged write (the expected image);
# at the end rmmod dm-backup succeeds.
# timeout: 300
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 72
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
n=$(sectors "$b")
run dmsetup create slowb --table "0 $n delay $b 0 0 $b 0 1000"
run dmsetup create slowo --table "0 $(sectors "$o") delay $o 0 1000 $o 0 0"

writers() {	# writers <seed>: 4 O_DIRECT writers in the background
	bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" "$1" 32 4 4096 131072 100 0 0 \
		>"$DMBT_TMP/io.$1" 2>&1 &
	wpid=$!
	sleep 1
}
still_running() { kill -0 "$wpid" 2>/dev/null; }

info "remove while open: EBUSY"
# The walk at 256 KiB/s (64 s): still running after the writers, also on
# the debug kernel under load (at 1 MiB/s it had completed there).
bk_create bk /dev/mapper/slowo /dev/mapper/slowb full 2 speed 262144
writers 1
still_running || fail "writers finished within 1 s: they did not wait on copies"
if dmsetup remove bk 2>"$DMBT_TMP/err"; then
	fail "dmsetup remove succeeded while the device was open"
fi
info "refused: $(cat "$DMBT_TMP/err")"
grep -qi busy "$DMBT_TMP/err" || fail "remove failed without EBUSY: $(cat "$DMBT_TMP/err")"
dmsetup info bk >/dev/null || fail "bk vanished after a refused remove"
if rmmod dm-backup 2>/dev/null; then
	fail "rmmod dm-backup succeeded while a device uses it"
fi
grep -q '^dm_backup ' /proc/modules || fail "dm-backup unloaded under a live device"
wait $wpid || fail "writers failed: $(cat "$DMBT_TMP/io.1")"
cat "$DMBT_TMP/io.1"
info "remove right after the writers, copies in flight: $(backup_status bk)"
[ "$(backup_state bk)" = running ] || fail "job not running: $(backup_status bk)"
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"

info "deferred remove while open"
bk_create bk /dev/mapper/slowo /dev/mapper/slowb full 2 speed 262144
writers 2
still_running || fail "writers finished within 1 s"
run dmsetup remove --deferred bk
wait $wpid || fail "writers failed: $(cat "$DMBT_TMP/io.2")"
cat "$DMBT_TMP/io.2"
wait_until 30 'deferred remove did not happen: $(dmsetup info bk)' dm_gone bk
same "$o" "$DMBT_TMP/expect"

# The name goes before the table is destroyed (dm's deferred remove work
# runs the destructor, which waits for the 1 s copies): slowb may still be
# held for a moment.
removed() {
	dmsetup remove "$1" 2>/dev/null
}
t=$(date +%s)
wait_until 10 'slowb still busy 10 s after bk went: $(dmsetup info slowb)' removed slowb
info "slowb removed after $(($(date +%s) - t)) s"
run dmsetup remove slowo
info "nothing left: the module unloads"
run rmmod dm-backup
run modprobe dm-backup
