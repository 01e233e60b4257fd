#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Sync mode top with a hand-made map: exactly the mapped chunks reach the
# backup device (the others keep a sentinel), writes copy only mapped
# chunks first, progress counts mapped chunks, and the map tool turns byte
# ranges into the right bits (a range touching a chunk marks it).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 141
fill_random "$b" 142			# the sentinel
save_image "$o" "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

# Chunks 0, 5, 100-110 and 255, as byte ranges, some unaligned.
cat >"$DMBT_TMP/ranges" <<RANGES
# offset length (bytes)
0 512
$((5 * CH + 4096)) 512
$((100 * CH + 512)) $((10 * CH + 1024))
$((255 * CH)) $CH
RANGES
run dmbackup map --chunk-sectors 128 --sectors 32768 -o "$DMBT_TMP/map" --ranges "$DMBT_TMP/ranges"
[ "$(stat -c %s "$DMBT_TMP/map")" -eq 512 ] || fail "map not padded to 512 bytes"
mapdev=$(losetup --show -f "$DMBT_TMP/map") || fail "losetup of the map failed"
mapped="0 5 100 101 102 103 104 105 106 107 108 109 110 255"
want=14

bk_create bk "$o" "$b" top 4 speed 262144 map "$mapdev"
# The walk holds still while the writes meet their chunks (copy-before-
# write goes on): a loaded host once let it copy chunk 255 first.
run dmsetup message bk 0 pause
[ "$(bk_total bk)" -eq "$want" ] || fail "progress total $(bk_total bk), want $want mapped chunks"
info "writes to an unmapped chunk copy nothing, to a mapped one copy it"
write_at /dev/mapper/bk $((50 * CH)) 4096 1 "$DMBT_TMP/expect"
[ "$(bk_cbw bk)" -eq 0 ] || fail "a write to an unmapped chunk was copied"
write_at /dev/mapper/bk $((255 * CH + 512)) 1024 2 "$DMBT_TMP/expect"
wait_cbw bk 1
[ "$(bk_cbw bk)" -eq 1 ] || fail "a write to mapped chunk 255 was not copied first ($(bk_cbw bk))"
run dmsetup message bk 0 speed 0
run dmsetup message bk 0 resume
wait_state bk completed 60
info "status: $(backup_status bk)"
[ "$(backup_status bk progress)" = "$want/$want" ] || fail "progress $(backup_status bk progress)"
run dmsetup remove bk

info "exactly the mapped chunks are on the backup device"
# The expected backup: the sentinel, with T0 in the copied chunks.
cp "$DMBT_TMP/b0" "$DMBT_TMP/bexp"
for c in $mapped; do
	dd if="$DMBT_TMP/t0" of="$DMBT_TMP/bexp" bs=$CH skip=$c seek=$c count=1 \
		conv=notrunc status=none || fail "dd failed"
done
same "$b" "$DMBT_TMP/bexp"
same "$o" "$DMBT_TMP/expect"
