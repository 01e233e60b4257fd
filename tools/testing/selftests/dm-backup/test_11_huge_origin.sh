#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A table whose chunk count does not fit the chunk bitmap's index type is
# refused with a clear message, before any allocation: chunk indexes are
# unsigned long (32 bits on a 32-bit kernel) and the bitmap helpers take
# unsigned int bit numbers, so at most 2^32 - 1 chunks.  Before, 2^32
# chunks were accepted (bitmap_set() of chunk 2^32 would set bit 0), and
# 2^37 chunks asked kvcalloc() for a 16 GiB bitmap, beyond the INT_MAX
# bytes it gives.  The same lengths with 1 MiB chunks are accepted.
# Origin and backup are dm-zero devices, which can be as large as we
# like.
# timeout: 120
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

msg="Origin too large for this chunk size"
T16=34359738368			# 16 TiB in sectors: 2^32 chunks of 8 sectors
P512=1099511627776		# 512 TiB: 2^37 chunks of 8 sectors
big=$((P512 + 8))
run dmsetup create zo --table "0 $big zero"
run dmsetup create zb --table "0 $big zero"
zo=/dev/mapper/zo zb=/dev/mapper/zb

for len in $T16 $((T16 + 8)) $P512 $big; do
	expect_ctr_error "$msg" "0 $len backup $zo $zb none 2 chunk_size 8"
done
# 2^32 chunks of 16 sectors, 2^32 + 1 of 128 (the default)
expect_ctr_error "$msg" "0 $((T16 * 2)) backup $zo $zb none 2 chunk_size 16"
expect_ctr_error "$msg" "0 $((T16 * 16 + 1)) backup $zo $zb none"

info "the same lengths with chunks large enough are accepted"
for t in "$T16 2048" "$P512 2048"; do
	set -- $t
	# load only: the constructor is what is tested, no job starts.
	run dmsetup create --notable ok
	dmsetup load ok --table "0 $1 backup $zo $zb none 2 chunk_size $2" ||
		fail "0 $1 with chunk_size $2 refused: $(dmesg | tail -n 2)"
	run dmsetup remove ok
done
