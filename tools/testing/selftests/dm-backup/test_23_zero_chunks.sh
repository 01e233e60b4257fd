#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# All-zero chunks reach the backup device as WRITE_ZEROES, not as data.
# Observed on the device side: the backup is a loop device over a sparse
# tmpfs file, where WRITE_ZEROES punches holes, so after the job the file
# holds pages exactly for the non-zero chunks.  On a backup device without
# WRITE_ZEROES (brd) the zero chunks are written as data.  Both backups must
# equal T0.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1			# 256 chunks
bkp-io fill "$o" 5 3 $CH || fail "fill failed"	# every 3rd chunk all zero
save_image "$o" "$DMBT_TMP/t0"
zero_chunks=$(( (256 + 2) / 3 ))		# chunks 0, 3, ..., 255

info "sparse loop backup: zero chunks become holes"
f=/tmp/dmbt-loop.sparse
truncate -s 16M "$f"
b=$(losetup --show -f "$f") || fail "losetup failed"
[ "$(cat /sys/block/${b#/dev/}/queue/write_zeroes_max_bytes)" -gt 0 ] ||
	fail "$b does not support WRITE_ZEROES: the test cannot observe them"
# The backup starts fully allocated with garbage, so a hole is proof.
fill_random "$b" 6
[ "$(($(stat -c %b "$f") * 512))" -eq $((16 * 1024 * 1024)) ] ||
	fail "backing file not fully allocated before the job"
bk_create bk "$o" "$b" full
wait_state bk completed 120
info "status: $(backup_status bk)"
[ "$(bk_zero bk)" -eq "$zero_chunks" ] ||
	fail "zero_chunks is $(bk_zero bk), want $zero_chunks"
run dmsetup remove bk
sync
alloc=$(($(stat -c %b "$f") * 512))
want=$(((256 - zero_chunks) * CH))
info "backing file holds $alloc bytes, non-zero chunks are $want bytes"
[ "$alloc" -eq "$want" ] ||
	fail "backing file holds $alloc bytes, want exactly $want: zero chunks were written as data"
same "$b" "$DMBT_TMP/t0"

info "brd backup without WRITE_ZEROES: zero chunks are written as data"
r=$(mkbrd 1 16) || exit 1
wz=$(cat /sys/block/ram0/queue/write_zeroes_max_bytes)
fill_random "$r" 7
bk_create bk2 "$o" "$r" full
wait_state bk2 completed 120
info "status: $(backup_status bk2)"
if [ "$wz" -eq 0 ]; then
	[ "$(bk_zero bk2)" -eq 0 ] ||
		fail "zero_chunks $(bk_zero bk2) on a device without WRITE_ZEROES"
else
	[ "$(bk_zero bk2)" -eq "$zero_chunks" ] ||
		fail "zero_chunks $(bk_zero bk2), want $zero_chunks"
fi
run dmsetup remove bk2
same "$r" "$DMBT_TMP/t0"
