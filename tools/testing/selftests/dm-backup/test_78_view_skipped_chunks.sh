#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A view never shows data from after the point in time.  A job whose
# backup device has a bad zone (dm-error, MiB 8-12) under
# on_target_error ignore completes with those chunks skipped.  From then
# on writes no longer wait for views, so a view must fail reads of a
# skipped chunk (EIO) rather than read the live origin, while copied
# chunks still read as T0.  The view here uses the two-device table line
# (origin and backup device) and is made before the job completes.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048
CH=65536
o=$(mkloop 32) || exit 1
b=$(mkloop 32) || exit 1
n=$(sectors "$o")
fill_random "$o" 781
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmsetup create bkd --table "0 $((8 * MB)) linear $b 0
$((8 * MB)) $((4 * MB)) error
$((12 * MB)) $((20 * MB)) linear $b $((12 * MB))"

bk_create bk "$o" /dev/mapper/bkd full 4 speed 4194304 on_target_error ignore
run dmsetup create view --table "0 $n backup-view $o /dev/mapper/bkd"
dmsetup table view
wait_state bk completed 120
[ "$(backup_status bk skipped_chunks)" -eq 64 ] || fail "skipped chunks: $(backup_status bk)"

info "after completion a write to a skipped chunk passes"
write_at /dev/mapper/bk $((150 * CH)) $CH 782 "$DMBT_TMP/expect"
same "$o" "$DMBT_TMP/expect"

info "the view fails reads of the skipped chunk, serves copied ones as T0"
if dd if=/dev/mapper/view of="$DMBT_TMP/c150" bs=$CH skip=150 count=1 \
	iflag=direct status=none 2>/dev/null; then
	chunk_of "$DMBT_TMP/t0" 150 $CH "$DMBT_TMP/t150"
	cmp -s "$DMBT_TMP/c150" "$DMBT_TMP/t150" &&
		fail "the view read a skipped chunk (it happened to be T0)"
	fail "the view returned data from after the point in time"
fi
dd if=/dev/mapper/view of="$DMBT_TMP/c20" bs=$CH skip=20 count=1 \
	iflag=direct status=none || fail "reading a copied chunk failed"
chunk_of "$DMBT_TMP/t0" 20 $CH "$DMBT_TMP/t20"
same "$DMBT_TMP/c20" "$DMBT_TMP/t20"
run dmsetup remove view
run dmsetup remove bk
run dmsetup remove bkd
