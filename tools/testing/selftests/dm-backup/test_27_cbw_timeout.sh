#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# cbw_timeout: no write waits longer than the timeout for its copy, even
# when nobody cancels.  The backup device is a suspended dm-linear "gate"
# (backup writes hang); 32 writers of random 4 KiB O_DIRECT writes meet it.
#   break_backup: the job fails by itself (last_error -110, a log line),
#     every write goes through, none took much longer than the timeout,
#     `dmbackup status` says why; the volume swaps back while the gate
#     hangs, and the late completions leave the kernel log clean.
#   fail_write: the writes that waited the timeout fail with EIO and the
#     origin holds exactly the others; the job goes on, and once the gate
#     opens it completes with the backup exactly T0.
# A suspend of a running job waits at most cbw_timeout for stalled copies,
# then fails the job.
# Also: cbw_timeout by message, in the table line and across a reload,
# bad values refused.
# timeout: 400
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
TIMEOUT_MS=2000
# A write may take the timeout plus the watchdog's and TCG's slack.
MAX_MS=$((TIMEOUT_MS + 3000))
o=$(mkloop 32) || exit 1
b=$(mkloop 32) || exit 1
n=$(sectors "$o")
fill_random "$o" 271
fill_random "$b" 272
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmsetup create gate --table "0 $n linear $b 0"
trap 'dmsetup resume gate 2>/dev/null' EXIT

# max_latency <log>: the longest op bkp-io saw, in ms.
max_latency() {
	sed -n 's/.*max latency \([0-9]*\) ms.*/\1/p' "$1"
}

info "the default is 30 s and is not printed; bad values change nothing"
bk_create bk "$o" "$b" none
dmsetup table bk | grep -q cbw_timeout && fail "default printed: $(dmsetup table bk)"
for m in "cbw_timeout" "cbw_timeout x" "cbw_timeout -1" "cbw_timeout 86400001" \
	 "cbw_timeout 1 2"; do
	# shellcheck disable=SC2086 # split the message into words
	dmsetup message bk 0 $m 2>/dev/null && fail "message '$m' accepted"
done
dmsetup table bk | grep -q cbw_timeout && fail "a bad message changed it: $(dmsetup table bk)"
run dmsetup message bk 0 cbw_timeout 1500
dmsetup table bk | grep -q "cbw_timeout 1500" || fail "table: $(dmsetup table bk)"
info "a reload with the printed table line keeps it (and the job)"
run dmsetup load bk --table "$(dmsetup table bk)"
run dmsetup suspend bk
run dmsetup resume bk
dmesg | tail -n 5 | grep -q "took over the running job" ||
	fail "the reload did not take the job over"
dmsetup table bk | grep -q "cbw_timeout 1500" || fail "table after reload: $(dmsetup table bk)"
run dmsetup remove bk
expect_ctr_error "Invalid cbw_timeout" "$(bk_table "$o" "$b" none 2 cbw_timeout 99999999999)"

info "break_backup: the job fails after ${TIMEOUT_MS} ms, the writes go on"
bk_create bk "$o" /dev/mapper/gate none 2 cbw_timeout $TIMEOUT_MS
dmsetup table bk | grep -q "cbw_timeout $TIMEOUT_MS" || fail "table: $(dmsetup table bk)"
run dmsetup suspend gate
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 273 2048 32 4096 4096 100 0 0 \
	>"$DMBT_TMP/io.log" 2>&1 ||
	fail "writes failed: $(cat "$DMBT_TMP/io.log")"
cat "$DMBT_TMP/io.log"
lat=$(max_latency "$DMBT_TMP/io.log")
[ -n "$lat" ] && [ "$lat" -le $MAX_MS ] ||
	fail "a write waited $lat ms (cbw_timeout $TIMEOUT_MS)"
[ "$(backup_state bk)" = failed ] || fail "job: $(backup_status bk)"
[ "$(backup_status bk last_error)" = -110 ] || fail "last_error: $(backup_status bk)"
dmesg | grep -q "waited more than $TIMEOUT_MS ms.*backup broken" ||
	fail "no log line says why the job failed"
out=$(dmbackup status 2>&1)
echo "$out"
echo "$out" | grep -q "^bk: none failed .*stalled" || fail "dmbackup status does not say why"
same "$o" "$DMBT_TMP/expect"
run timeout 30 dmsetup suspend bk
run timeout 30 dmsetup load bk --table "0 $n linear $o 0"
run timeout 30 dmsetup resume bk
run dmsetup resume gate
sleep 1
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"

info "fail_write: writes that waited ${TIMEOUT_MS} ms fail, the origin keeps the others"
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk "$o" /dev/mapper/gate full 6 speed 65536 cbw_timeout $TIMEOUT_MS \
	on_cbw_error fail_write
run dmsetup suspend gate
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 274 256 32 4096 4096 100 0 0 \
	>"$DMBT_TMP/io.log" 2>&1 && fail "no write failed although the backup device hangs"
tail -n 1 "$DMBT_TMP/io.log"
grep -q "Input/output error" "$DMBT_TMP/io.log" ||
	fail "writes failed otherwise: $(cat "$DMBT_TMP/io.log")"
lat=$(max_latency "$DMBT_TMP/io.log")
[ -n "$lat" ] && [ "$lat" -le $MAX_MS ] ||
	fail "a write waited $lat ms (cbw_timeout $TIMEOUT_MS)"
[ "$(backup_state bk)" = running ] || fail "job: $(backup_status bk)"
[ "$(backup_status bk last_error)" = -110 ] || fail "last_error: $(backup_status bk)"
same "$o" "$DMBT_TMP/expect"
info "the gate opens: the same job completes, exactly T0"
run dmsetup resume gate
run dmsetup message bk 0 speed 0
wait_state bk completed 120
run dmsetup remove bk
same /dev/mapper/gate "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"

info "a suspend waits at most cbw_timeout for the copies of a running job"
bk_create bk "$o" /dev/mapper/gate full 4 speed 1048576 cbw_timeout $TIMEOUT_MS
wait_copied bk 2 60
run dmsetup suspend gate
sleep 1
t=$(date +%s)
run timeout 30 dmsetup suspend bk
info "the suspend took $(($(date +%s) - t)) s"
[ $(($(date +%s) - t)) -le 10 ] || fail "the suspend waited for the stalled backup device"
[ "$(backup_state bk)" = failed ] || fail "job: $(backup_status bk)"
[ "$(backup_status bk last_error)" = -110 ] || fail "last_error: $(backup_status bk)"
dmesg | grep -q "copies in flight $TIMEOUT_MS ms after suspend" ||
	fail "no log line says why the suspend broke the job"
run dmsetup resume bk
run dmsetup resume gate
run dmsetup remove bk
run dmsetup remove gate
