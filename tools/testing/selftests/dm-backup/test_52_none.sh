#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Sync mode none: no walk, only copy-before-write.  The job stays running
# under writes until cancel; the backup holds, at each written chunk, the
# data from before the job, and the sentinel everywhere else; after cancel
# the origin holds every write.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
fill_random "$o" 151
fill_random "$b" 152
save_image "$o" "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

bk_create bk "$o" "$b" none
[ "$(backup_status bk sync_mode)" = none ] || fail "sync_mode field $(backup_status bk sync_mode)"
write_at /dev/mapper/bk $((3 * CH + 512)) $((2 * CH)) 1 "$DMBT_TMP/expect"	# chunks 3-5
write_at /dev/mapper/bk $((200 * CH)) 4096 2 "$DMBT_TMP/expect"		# chunk 200
sleep 2
[ "$(backup_state bk)" = running ] || fail "state $(backup_state bk), want running"
[ "$(bk_copied bk)" -eq 4 ] || fail "copied $(bk_copied bk) chunks, want 4 (3, 4, 5, 200)"
run dmsetup message bk 0 cancel
wait_state bk cancelled 10
write_at /dev/mapper/bk $((100 * CH)) 4096 3 "$DMBT_TMP/expect"
[ "$(bk_copied bk)" -eq 4 ] || fail "a write after cancel was copied"
run dmsetup remove bk
# The expected backup: the sentinel, with T0 in the copied chunks.
cp "$DMBT_TMP/b0" "$DMBT_TMP/bexp"
for c in 3 4 5 200; do
	dd if="$DMBT_TMP/t0" of="$DMBT_TMP/bexp" bs=$CH skip=$c seek=$c count=1 \
		conv=notrunc status=none || fail "dd failed"
done
same "$b" "$DMBT_TMP/bexp"
same "$o" "$DMBT_TMP/expect"
