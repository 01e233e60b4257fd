#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# `dmsetup remove` is clean at any moment: mid-walk with copies in flight
# (the backup device delays writes by a second), after completion, after
# cancel.  Every write made before the removal is on the origin, and the
# module unloads afterwards (no leaked references).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 41
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
n=$(sectors "$b")
run dmsetup create slowb --table "0 $n delay $b 0 0 $b 0 1000"

info "remove mid-walk, copies in flight"
# 16 s of walk at 1 MiB/s, each backup write held a second: copies are in
# flight at the removal however slow the host (unthrottled, a loaded 6.12
# VM finished the walk before the check that it runs).
bk_create bk "$o" /dev/mapper/slowb full 2 speed 1048576
write_at /dev/mapper/bk 999936 70144 1 "$DMBT_TMP/expect"
write_at /dev/mapper/bk 8999936 4096 2 "$DMBT_TMP/expect"
[ "$(backup_state bk)" = running ] || fail "job not running: $(backup_status bk)"
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"

info "remove after completion"
bk_create bk "$o" "$b" full
wait_state bk completed 120
same "$b" "$DMBT_TMP/expect"
run dmsetup remove bk

info "remove after cancel"
bk_create bk "$o" /dev/mapper/slowb full 2 speed 1048576
run dmsetup message bk 0 cancel
wait_state bk cancelled 10
write_at /dev/mapper/bk 4999680 4096 3 "$DMBT_TMP/expect"
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"

run dmsetup remove slowb
info "the module unloads: nothing holds it"
run rmmod dm-backup
run modprobe dm-backup
