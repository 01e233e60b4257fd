#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every chunk size from 8 to 2048 sectors, a length that is not a multiple
# of the chunk size (the last chunk is partial), a device of one chunk and a
# device smaller than one chunk.  Writes land before and during the walk,
# including in the partial last chunk.  Oracles: the backup's first <len>
# sectors equal T0, the sectors past <len> on the backup keep their old
# contents, the origin equals T0 + writes.
# timeout: 400
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 4) || exit 1
b=$(mkloop 4) || exit 1

# one_case <chunk_sectors> <len_sectors> <speed>
one_case() {
	cs=$1 len=$2
	fill_random "$o" "$cs$len"
	fill_random "$b" "$len$cs"
	save_image "$o" "$DMBT_TMP/t0"
	save_image "$b" "$DMBT_TMP/b0"
	cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
	dmsetup create g --table "0 $len backup $o $b full 4 chunk_size $cs speed $3" ||
		fail "create chunk_size $cs len $len failed"
	chunks=$(( (len + cs - 1) / cs ))
	[ "$(bk_total g)" -eq "$chunks" ] || fail "total $(bk_total g), want $chunks"
	[ "$(backup_status g chunk_sectors)" -eq "$cs" ] || fail "chunk_sectors field is not $cs"
	# The last sector (in the partial chunk), the first, and one straddling
	# two chunks in the middle.
	write_at /dev/mapper/g $(((len - 1) * 512)) 512 1 "$DMBT_TMP/expect"
	write_at /dev/mapper/g 0 512 2 "$DMBT_TMP/expect"
	if [ "$len" -gt $((2 * cs)) ]; then
		write_at /dev/mapper/g $((cs * 512 - 1024)) 2048 3 "$DMBT_TMP/expect"
	fi
	run dmsetup message g 0 speed 0
	wait_state g completed 120
	[ "$(bk_copied g)" -eq "$chunks" ] || fail "copied $(bk_copied g)/$chunks"
	run dmsetup remove g
	same "$b" "$DMBT_TMP/t0" $((len * 512))
	# Past the target's end the backup device is untouched.
	dd if="$b" bs=512 skip="$len" status=none >"$DMBT_TMP/tail_now"
	dd if="$DMBT_TMP/b0" bs=512 skip="$len" status=none >"$DMBT_TMP/tail_then"
	same "$DMBT_TMP/tail_now" "$DMBT_TMP/tail_then"
	same "$o" "$DMBT_TMP/expect"
	echo "ok: chunk_size $cs, $len sectors, $chunks chunks"
}

for cs in 8 16 32 64 128 256 512 1024 2048; do
	# 8187 sectors: never a multiple of cs, the last chunk is partial.
	one_case "$cs" 8187 1048576
done
one_case 128 128 0		# exactly one chunk
one_case 128 5 0		# less than one chunk
one_case 2048 8192 0		# a multiple: no partial chunk
