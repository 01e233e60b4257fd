#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Incremental backup with dm-era stacked under the origin: a full backup
# at T0 (an era checkpoint marks it), more writes, then at T1 the blocks
# era_invalidate reports as written since T0's era become the map of a
# `top` backup onto the previous backup.  Oracle: backup == volume at T1.
# timeout: 400
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048
CH=65536
meta=$(mkloop 8) || exit 1
o=$(mkloop 32) || exit 1
b=$(mkloop 32) || exit 1
run dmsetup create era --table "0 $((32 * MB)) era $meta $o 128"
fill_random /dev/mapper/era 171

info "T0: checkpoint, full backup"
run dmsetup message era 0 checkpoint
e0=$(era_now era)
info "era at T0: $e0"
save_image /dev/mapper/era "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
bk_create bk /dev/mapper/era "$b" full
wait_state bk completed 60
run dmsetup remove bk
same "$b" "$DMBT_TMP/t0"

info "more writes"
for off in 2 33 128 129 500; do
	write_at /dev/mapper/era $((off * CH + 512)) 4096 "$off" "$DMBT_TMP/expect"
done
sync
save_image /dev/mapper/era "$DMBT_TMP/t1"

info "T1: blocks written since era $e0 are the map of a top backup"
# Nothing writes between here and the job's start (dm-era handles no
# messages while suspended, so the volume cannot be held suspended here).
run dmsetup message era 0 checkpoint
run dmsetup message era 0 take_metadata_snap
era_invalidate --metadata-snapshot --written-since "$e0" "$meta" >"$DMBT_TMP/era.xml" ||
	fail "era_invalidate failed"
run dmsetup message era 0 drop_metadata_snap
cat "$DMBT_TMP/era.xml" | head -n 12
run dmbackup map --chunk-sectors 128 --sectors $((32 * MB)) -o "$DMBT_TMP/map" \
	--era "$DMBT_TMP/era.xml" --era-block-sectors 128
mapdev=$(losetup --show -f "$DMBT_TMP/map") || fail "losetup failed"
run dmsetup create bk --table "$(bk_table /dev/mapper/era "$b" top 2 map "$mapdev")"
total=$(bk_total bk)
info "incremental: $total chunks mapped"
[ "$total" -eq 5 ] || fail "era maps $total chunks, want 5"
wait_state bk completed 60
run dmsetup remove bk
same "$b" "$DMBT_TMP/t1"
same /dev/mapper/era "$DMBT_TMP/expect"
run dmsetup remove era
