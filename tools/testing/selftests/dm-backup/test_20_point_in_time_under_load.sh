#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The backup is a bit-exact point-in-time image while the origin is written
# hard during a throttled walk: random writes of 512 B to 1 MiB at any
# 512-byte offset (straddling chunks), from 4 writers at once hitting the
# same chunks, buffered and O_DIRECT, plus discards and write-zeroes.
# Oracles: the backup equals the image saved before the job (T0); the
# origin and the dm device equal the expected image (T0 + every write).
# timeout: 600
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

size=64
o=$(mkloop $size) || exit 1	# loop over tmpfs: discards read back as zeroes
b=$(mkloop $size) || exit 1
fill_random "$o" 1
fill_random "$b" 2		# the backup starts as garbage, not zeroes
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

# 2 MiB/s: the walk takes about 32 s, so the writes meet it mid-walk even
# on a slow (debug) kernel.
bk_create bk "$o" "$b" full 2 speed 2097152
total=$(bk_total bk)
[ "$total" -eq $((size * 16)) ] || fail "total chunks $total, want $((size * 16))"

info "random writes, discards and write-zeroes from 4 writers"
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 7 240 4 512 1048576 50 10 10
info "status after the writes: $(backup_status bk)"
state=$(backup_state bk)
[ "$state" = running ] ||
	fail "the walk ended ($state) before the writes did: they did not meet it mid-walk"
cbw=$(bk_cbw bk)
[ "$cbw" -gt 0 ] || fail "no chunk was copied before a write"

info "a few more through util-linux blkdiscard -z and blkdiscard"
run blkdiscard -z -o 1048576 -l 196608 /dev/mapper/bk
dd if=/dev/zero of="$DMBT_TMP/expect" bs=4096 seek=256 count=48 conv=notrunc status=none
run blkdiscard -o 5242880 -l 65536 /dev/mapper/bk
dd if=/dev/zero of="$DMBT_TMP/expect" bs=4096 seek=1280 count=16 conv=notrunc status=none

info "finish the walk unthrottled"
run dmsetup message bk 0 speed 0
wait_state bk completed 300
info "final status: $(backup_status bk)"
[ "$(bk_copied bk)" -eq "$total" ] || fail "completed with $(bk_copied bk)/$total copied"

same "$b" "$DMBT_TMP/t0"
same /dev/mapper/bk "$DMBT_TMP/expect"
same "$o" "$DMBT_TMP/expect"

info "after completion writes pass straight through, copying nothing"
cbw=$(bk_cbw bk)
write_at /dev/mapper/bk 4096 8192 9 "$DMBT_TMP/expect"
[ "$(bk_cbw bk)" -eq "$cbw" ] || fail "a write after completion copied a chunk"
same "$o" "$DMBT_TMP/expect"
same "$b" "$DMBT_TMP/t0"
run dmsetup remove bk
