#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Failed multi-chunk walk copies that end out of order.  The walk copies
# up to 16 chunks at once and has many copies in flight; when one fails it
# copies that copy's chunks again one by one so that the error policy
# judges single chunks.  Two bad zones on the backup device: MiB 0-1
# (chunks 0-15) fails slowly (dm-delay over dm-error, 2 s), MiB 2-3
# (chunks 32-47) fails at once, so the later copy fails first.  Under
# on_target_error ignore each bad chunk must be judged exactly once:
# skipped_chunks 32, target_errors 32 (the 32 single-chunk copies; a
# failed 16-chunk copy is retried, not counted), and every other chunk on
# the backup device is T0.
# Before the fix the slow failure sent the walk back over chunks 32-47
# and counted them twice (skipped 48, target_errors 48).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048
o=$(mkloop 8) || exit 1
b=$(mkloop 8) || exit 1
n=$(sectors "$o")
fill_random "$o" 901
fill_random "$b" 902
save_image "$o" "$DMBT_TMP/t0"

run dmsetup create bkerr --table "0 $MB error"
run dmsetup create bkslow --table "0 $MB delay /dev/mapper/bkerr 0 2000"
run dmsetup create bkd --table "0 $MB linear /dev/mapper/bkslow 0
$MB $MB linear $b $MB
$((2 * MB)) $MB error
$((3 * MB)) $((n - 3 * MB)) linear $b $((3 * MB))"

bk_create bk "$o" /dev/mapper/bkd full 2 on_target_error ignore
wait_state bk completed 120
info "status: $(dmsetup status bk)"
skipped=$(backup_status bk skipped_chunks)
errors=$(backup_status bk target_errors)
[ "$skipped" -eq 32 ] || fail "skipped_chunks $skipped, want 32 (each bad chunk once)"
[ "$errors" -eq 32 ] || fail "target_errors $errors, want 32 (one per bad chunk)"

info "the backup device holds T0 outside the bad zones"
drop_caches "$b"
cmp -i $((1 * 1048576)) -n 1048576 "$o" "$b" || fail "MiB 1-2 of the backup differ"
cmp -i $((3 * 1048576)) "$DMBT_TMP/t0" "$b" || fail "MiB 3-8 of the backup differ"
run dmsetup remove bk
run dmsetup remove bkd
run dmsetup remove bkslow
run dmsetup remove bkerr
