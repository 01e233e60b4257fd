#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A backup device that stops answering never freezes the volume: cancel
# lets every waiting write go at once.  The backup device is a dm-linear
# "gate" over a loop device; suspending the gate makes every backup write
# hang, as a dead NBD server or SAN path would.  With cbw_timeout 0 (no
# limit) only cancel can help:
#   - 32 writers of random 4 KiB O_DIRECT writes hang on their copies;
#   - after `cancel` they all finish within seconds, every write on the
#     origin (oracle: the expected image bkp-io keeps);
#   - the volume is then suspended, swapped back to a linear table and the
#     job's table destroyed while the gate still hangs, each step bounded;
#   - the gate opens: the stalled copies complete after their table is
#     gone, and the kernel log stays clean (the runner scans it).
# The chunks the walk copied before the stall hold T0 on the backup device.
# timeout: 300
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 64) || exit 1
b=$(mkloop 64) || exit 1
n=$(sectors "$o")
fill_random "$o" 261
fill_random "$b" 262
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmsetup create gate --table "0 $n linear $b 0"
# Whatever happens, open the gate on the way out, so that nothing stays
# stuck behind it and hangs the run instead of failing the test.
trap 'dmsetup resume gate 2>/dev/null' EXIT

bk_create bk "$o" /dev/mapper/gate full 4 speed 1048576 cbw_timeout 0
dmsetup table bk | grep -q "cbw_timeout 0" || fail "table: $(dmsetup table bk)"
wait_copied bk 4 60
run dmsetup suspend gate
c0=$(bk_copied bk)
info "the backup device hangs after $c0 chunks; 32 writers meet it"
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 263 1024 32 4096 4096 100 0 0 \
	>"$DMBT_TMP/io.log" 2>&1 &
io=$!
sleep 5
kill -0 "$io" 2>/dev/null ||
	fail "the writes finished although the backup device hangs: $(cat "$DMBT_TMP/io.log")"
[ "$(backup_state bk)" = running ] || fail "job: $(backup_status bk)"

info "cancel lets every write go"
t=$(date +%s)
run dmsetup message bk 0 cancel
wait_until 30 'writes still held 30 s after cancel: $(backup_status bk)' proc_gone "$io"
wait "$io" || fail "writes failed: $(cat "$DMBT_TMP/io.log")"
cat "$DMBT_TMP/io.log"
info "the writers finished $(($(date +%s) - t)) s after cancel"
[ "$(backup_state bk)" = cancelled ] || fail "job: $(backup_status bk)"
same "$o" "$DMBT_TMP/expect"

info "suspend, swap back and destroy the job's table while the gate hangs"
run timeout 30 dmsetup suspend bk
run timeout 30 dmsetup load bk --table "0 $n linear $o 0"
run timeout 30 dmsetup resume bk
set -- $(dmsetup table bk)
[ "$3" = linear ] || fail "the original table is not back: $(dmsetup table bk)"
write_at /dev/mapper/bk $((5 * CH)) 8192 264 "$DMBT_TMP/expect"
same "$o" "$DMBT_TMP/expect"

info "the gate opens: the stalled copies end without their table"
run dmsetup resume gate
sleep 2
run dmsetup remove bk
run dmsetup remove gate
dd if="$b" of="$DMBT_TMP/bhead" bs=$CH count="$c0" status=none
dd if="$DMBT_TMP/t0" of="$DMBT_TMP/t0head" bs=$CH count="$c0" status=none
same "$DMBT_TMP/bhead" "$DMBT_TMP/t0head"
