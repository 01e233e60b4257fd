#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A top job keeps its own count of unmapped chunks across a reload: the new
# table's constructor reads the map device again, and that device may hold
# another map by then (it is compared by device number only).  The job, its
# bitmap and its progress total come from the map it started with.
# Oracles: copied <= total and the total stays the first map's at every
# step, the job completes at total/total, the backup holds T0 in exactly
# the chunks of the first map and the sentinel elsewhere.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1		# 256 chunks
b=$(mkloop 16) || exit 1
fill_random "$o" 591
fill_random "$b" 592			# the sentinel
save_image "$o" "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

# The job's map: chunks 0-199.  The map device's later contents: 0-9.
echo "0 $((200 * CH))" >"$DMBT_TMP/r1"
echo "0 $((10 * CH))" >"$DMBT_TMP/r2"
run dmbackup map --chunk-sectors 128 --sectors 32768 -o "$DMBT_TMP/map1" --ranges "$DMBT_TMP/r1"
run dmbackup map --chunk-sectors 128 --sectors 32768 -o "$DMBT_TMP/map2" --ranges "$DMBT_TMP/r2"
mapdev=$(mkloop 1) || exit 1
dd if="$DMBT_TMP/map1" of="$mapdev" bs=512 oflag=direct conv=notrunc status=none ||
	fail "cannot write the map"
want=200

# progress_ok <when>: copied <= total, and the total is the first map's.
progress_ok() {
	_p=$(backup_status bk progress)
	info "$1: progress $_p"
	[ "${_p#*/}" -eq "$want" ] || fail "$1: total ${_p#*/}, want $want: $(backup_status bk)"
	[ "${_p%/*}" -le "$want" ] || fail "$1: copied ${_p%/*} > total $want: $(backup_status bk)"
}

table=$(bk_table "$o" "$b" top 4 speed 524288 map "$mapdev")
run dmsetup create bk --table "$table"
wait_copied bk 16
progress_ok "before the reload"

info "the map device gets another map, then a reload"
dd if="$DMBT_TMP/map2" of="$mapdev" bs=512 oflag=direct conv=notrunc status=none ||
	fail "cannot rewrite the map"
run dmsetup load bk --table "$table"
run dmsetup suspend bk
run dmsetup resume bk
dmesg | tail -n 10 | grep -q "took over the running job" || fail "no handover logged"
progress_ok "after the reload"
run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 593 60 2 512 262144 50 0 10
progress_ok "after writes"

run dmsetup message bk 0 speed 0
wait_state bk completed 60
progress_ok "completed"
[ "$(backup_status bk progress)" = "$want/$want" ] ||
	fail "completed at $(backup_status bk progress)"
run dmsetup remove bk

info "exactly the first map's chunks are on the backup device"
cp "$DMBT_TMP/b0" "$DMBT_TMP/bexp"
dd if="$DMBT_TMP/t0" of="$DMBT_TMP/bexp" bs=$CH count=200 conv=notrunc status=none ||
	fail "dd failed"
same "$b" "$DMBT_TMP/bexp"
same "$o" "$DMBT_TMP/expect"
