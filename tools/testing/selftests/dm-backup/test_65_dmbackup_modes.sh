#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup start --mode none and --mode top --map on a live volume: none
# copies only written chunks and runs until cancel; top copies exactly the
# mapped chunks; finish restores the original table.  Oracles: the
# backup's chunks against T0 and the sentinel, the volume's table.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
disk=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
n=$(sectors "$disk")
fill_random "$disk" 191
run dmsetup create vol --table "0 $n linear $disk 0"
orig=$(dmsetup table vol)

# expect_backup <chunks...>: the backup is the sentinel with T0 there.
expect_backup() {
	cp "$DMBT_TMP/b0" "$DMBT_TMP/bexp"
	for c in "$@"; do
		dd if="$DMBT_TMP/t0" of="$DMBT_TMP/bexp" bs=$CH skip=$c seek=$c count=1 \
			conv=notrunc status=none || fail "dd failed"
	done
	same "$b" "$DMBT_TMP/bexp"
}

info "refusals"
dmbackup start /dev/mapper/vol "$b" --mode top >/dev/null 2>&1 && fail "top without a map accepted"
dmbackup start /dev/mapper/vol "$b" --mode full --map "$b" >/dev/null 2>&1 &&
	fail "a map without top accepted"
dmbackup start /dev/mapper/vol "$b" --mode fast >/dev/null 2>&1 && fail "a bad mode accepted"
[ "$(dmsetup table vol)" = "$orig" ] || fail "a refusal changed the volume"

info "--mode none"
fill_random "$b" 192
save_image /dev/mapper/vol "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
run dmbackup start /dev/mapper/vol "$b" --mode none
[ "$(backup_status vol sync_mode)" = none ] || fail "sync mode $(backup_status vol sync_mode)"
write_at /dev/mapper/vol $((7 * CH)) 4096 1 /dev/null
write_at /dev/mapper/vol $((99 * CH + 512)) $((CH)) 2 /dev/null	# chunks 99-100
[ "$(backup_state vol)" = running ] || fail "state $(backup_state vol)"
run dmbackup cancel /dev/mapper/vol
run dmbackup finish /dev/mapper/vol
[ "$(dmsetup table vol)" = "$orig" ] || fail "table after finish: $(dmsetup table vol)"
expect_backup 7 99 100

info "--mode top --map"
fill_random "$b" 193
save_image /dev/mapper/vol "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
printf '%s\n' "$((3 * CH)) 512" "$((200 * CH)) $((2 * CH))" >"$DMBT_TMP/ranges"
run dmbackup map --chunk-sectors 128 --sectors "$n" -o "$DMBT_TMP/map" --ranges "$DMBT_TMP/ranges"
map=$(losetup --show -f "$DMBT_TMP/map") || fail "losetup failed"
run dmbackup start /dev/mapper/vol "$b" --mode top --map "$map"
run dmbackup wait /dev/mapper/vol
[ "$(backup_status vol progress)" = 3/3 ] || fail "progress $(backup_status vol progress), want 3/3"
run dmbackup finish /dev/mapper/vol
[ "$(dmsetup table vol)" = "$orig" ] || fail "table after finish: $(dmsetup table vol)"
expect_backup 3 200 201
run dmsetup remove vol
