#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A write to a chunk meets the walk in each of its three positions, made
# deterministic with dm-delay (origin reads and backup writes take 1.5 s
# each, so a copy is in flight for 3 s) and a slow walk (64 KiB/s, one
# chunk a second):
#   - while the walk's copy of the chunk is in flight: the write waits for
#     that copy and starts no copy of its own;
#   - before the walk reaches the chunk: the write copies exactly that chunk
#     (it returns once the chunk is read; the copy lands 1.5 s later);
#   - after the walk passed the chunk: the write copies nothing.
# Oracles: chunk contents against T0 at each step, the copy counters, and
# at the end backup == T0 and origin == T0 + writes.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1	# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 11
fill_random "$b" 12
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
n=$(sectors "$b")
run dmsetup create slowo --table "0 $n delay $o 0 1500 $o 0 0"
run dmsetup create slowb --table "0 $n delay $b 0 0 $b 0 1500"

bk_create bk /dev/mapper/slowo /dev/mapper/slowb full 2 speed 65536
sleep 0.5

info "chunk 0: the walk's copy is in flight; the write must wait for it"
cbw=$(bk_cbw bk)
t=$(cut -d' ' -f1 /proc/uptime)
write_at /dev/mapper/bk 4096 8192 21 "$DMBT_TMP/expect"
info "the write took $(echo "$(cut -d' ' -f1 /proc/uptime) $t" | awk '{print $1 - $2}') s"
[ "$(bk_cbw bk)" -eq "$cbw" ] ||
	fail "the write to chunk 0 started its own copy instead of waiting for the walk's"
chunk_of "$b" 0 $CH "$DMBT_TMP/b0"
chunk_of "$DMBT_TMP/t0" 0 $CH "$DMBT_TMP/t00"
same "$DMBT_TMP/b0" "$DMBT_TMP/t00"

info "chunk 255: the walk is far away; the write copies exactly that chunk"
copied=$(bk_copied bk)
[ "$copied" -lt 200 ] || fail "the walk is already at $copied chunks"
write_at /dev/mapper/bk $((255 * CH + 512)) 1024 22 "$DMBT_TMP/expect"
wait_cbw bk $((cbw + 1))
[ "$(bk_cbw bk)" -eq $((cbw + 1)) ] ||
	fail "cbw_chunks went from $cbw to $(bk_cbw bk), want +1"
chunk_of "$b" 255 $CH "$DMBT_TMP/b255"
chunk_of "$DMBT_TMP/t0" 255 $CH "$DMBT_TMP/t0255"
same "$DMBT_TMP/b255" "$DMBT_TMP/t0255"

info "chunk 1: wait until the walk copied it, then the write copies nothing"
wait_until 60 'the walk did not copy chunk 1 in 60 s: $(backup_status bk)' \
	chunk_is "$b" 1 $CH "$DMBT_TMP/t0"
cbw=$(bk_cbw bk)
write_at /dev/mapper/bk $((CH + 60416)) 10240 23 "$DMBT_TMP/expect"
[ "$(bk_cbw bk)" -eq "$cbw" ] || fail "a write to a copied chunk started a copy"
[ "$(backup_state bk)" = running ] || fail "job ended early: $(backup_status bk)"

info "finish unthrottled"
run dmsetup message bk 0 speed 0
wait_state bk completed 120
info "final status: $(backup_status bk)"
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
run dmsetup remove slowb
run dmsetup remove slowo
