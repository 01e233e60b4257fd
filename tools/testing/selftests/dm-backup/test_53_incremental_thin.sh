#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Incremental backup of an LVM-style thin volume: a full backup of the
# thin volume at T0 (with a thin snapshot taken at T0 to remember it),
# more writes, then at T1 the changed blocks from thin_delta between the
# snapshot and the volume become the map of a `top` backup onto the
# previous backup.  Oracle: the backup device equals the volume at T1.
# timeout: 400
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048
CH=65536
mkthin 8 64 32
meta=$THIN_META
b=$(mkloop 32) || exit 1
# Half the volume holds data; the rest was never written (unprovisioned).
fill_random /dev/mapper/tv 161 $((16 * 1048576))

info "T0: snapshot 1 remembers the volume; full backup"
run dmsetup suspend tv
run dmsetup message pool 0 "create_snap 1 0"
run dmsetup resume tv
save_image /dev/mapper/tv "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk /dev/mapper/tv "$b" full 2 speed 8388608
write_at /dev/mapper/bk $((3 * CH)) 8192 1 "$DMBT_TMP/expect"
write_at /dev/mapper/bk $((300 * CH)) 4096 2 "$DMBT_TMP/expect"
run dmsetup message bk 0 speed 0
wait_state bk completed 60
run dmsetup remove bk
same "$b" "$DMBT_TMP/t0"

info "more writes after the full backup"
for off in 3 17 64 255 400 401; do
	write_at /dev/mapper/tv $((off * CH + 4096)) 8192 "$off" "$DMBT_TMP/expect"
done
write_at /dev/mapper/tv $((120 * CH)) $((3 * CH)) 9 "$DMBT_TMP/expect"
sync
save_image /dev/mapper/tv "$DMBT_TMP/t1"
same "$DMBT_TMP/t1" "$DMBT_TMP/expect"

info "T1: the delta since snapshot 1 is the map of a top backup"
run dmsetup suspend tv
run dmsetup message pool 0 reserve_metadata_snap
thin_delta --metadata-snap --snap1 1 --snap2 0 "$meta" >"$DMBT_TMP/delta.xml" ||
	fail "thin_delta failed"
run dmsetup message pool 0 release_metadata_snap
head -n 12 "$DMBT_TMP/delta.xml"
run dmbackup map --chunk-sectors 128 --sectors $((32 * MB)) -o "$DMBT_TMP/map" \
	--thin-delta "$DMBT_TMP/delta.xml"
mapdev=$(losetup --show -f "$DMBT_TMP/map") || fail "losetup failed"
# The job's point in time is its resume; the volume stays suspended until
# then, so the map and the point in time agree.
run dmsetup create bk --table "$(bk_table /dev/mapper/tv "$b" top 4 speed 1048576 map "$mapdev")"
run dmsetup resume tv
total=$(bk_total bk)
info "incremental: $total chunks mapped"
[ "$total" -ge 9 ] && [ "$total" -le 12 ] || fail "the delta maps $total chunks, want 9 to 12"
write_at /dev/mapper/bk $((17 * CH)) 4096 21 "$DMBT_TMP/expect"	# mapped
write_at /dev/mapper/bk $((30 * CH)) 4096 22 "$DMBT_TMP/expect"	# unmapped
run dmsetup message bk 0 speed 0
wait_state bk completed 60
run dmsetup remove bk
same "$b" "$DMBT_TMP/t1"
same /dev/mapper/tv "$DMBT_TMP/expect"
run dmsetup remove tv
run dmsetup remove pool
