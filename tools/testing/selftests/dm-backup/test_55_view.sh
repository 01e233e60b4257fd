#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# backup-view: the point-in-time image as a read-only device.
#   none + view: writes keep hitting the origin while the view is read in
#   full several times; every read equals T0; after cancel the origin
#   holds every write.
#   full + view: the view equals T0 before, during and after the walk, and
#   across a reload that hands the job over.
#   The view refuses writes; a view keeps its backup device busy; a view
#   whose job went away fails reads; bad view tables are refused.
# timeout: 400
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
n=$(sectors "$o")
fill_random "$o" 181
fill_random "$b" 182
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

# read_view <file>: the whole view with O_DIRECT (no stale page cache).
read_view() {
	dd if=/dev/mapper/view of="$1" bs=1M iflag=direct status=none ||
		fail "reading the view failed"
}

info "none + view, under writes"
bk_create bk "$o" "$b" none
run dmsetup create view --table "0 $n backup-view /dev/mapper/bk"
# No BLKZEROOUT: the view claims bk, and the ioctl then fails with EBUSY
# when page cache invalidation races buffered writes (kernel behaviour).
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 183 600 4 512 262144 50 0 0 &
io=$!
for i in 1 2 3; do
	read_view "$DMBT_TMP/v"
	same "$DMBT_TMP/v" "$DMBT_TMP/t0"
	info "read $i of the view equals T0 (copied so far: $(bk_copied bk))"
done
wait "$io" || fail "writes failed"
read_view "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
[ "$(bk_copied bk)" -gt 0 ] || fail "the writes copied nothing: they did not meet the view"

info "the view is read-only"
if dd if=/dev/zero of=/dev/mapper/view bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	fail "a write to the view succeeded"
fi
info "the view keeps the backup device busy"
if dmsetup remove bk 2>/dev/null; then
	fail "the backup device was removed under its view"
fi
run dmsetup message bk 0 cancel
info "a cancelled job has no image: view reads fail"
if dd if=/dev/mapper/view of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
	fail "a view read succeeded after cancel"
fi
run dmsetup remove view
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"

info "full + view: before, during and after the walk, and across a reload"
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
fill_random "$b" 184
# 64 s of walk: the debug kernel under load took 40 s to the check below.
bk_create bk "$o" "$b" full 2 speed 262144
run dmsetup create view --table "0 $n backup-view /dev/mapper/bk"
read_view "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
# Writes in the first 4 MiB only, so the walk still has work after them.
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 185 100 2 512 131072 50 0 0 0 4194304 &
io=$!
read_view "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
run dmsetup load bk --table "$(bk_table "$o" "$b" full 2 speed 262144)"
run dmsetup suspend bk
run dmsetup resume bk
read_view "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
[ "$(backup_state bk)" = running ] || fail "the walk ended before the reads: $(backup_status bk)"
wait "$io" || fail "writes failed"
run dmsetup message bk 0 speed 0
wait_state bk completed 60
read_view "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"

info "a table without backup detaches the view: reads fail"
run dmsetup load bk --table "0 $n linear $o 0"
run dmsetup suspend bk
run dmsetup resume bk
[ "$(view_state view)" = detached ] || fail "view status: $(dmsetup status view)"
if dd if=/dev/mapper/view of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
	fail "a detached view read succeeded"
fi
run dmsetup remove view

info "a view read of an uncopied chunk and a write to that chunk at once"
# Origin reads take 0.8 s: the view's read is in flight on the origin when
# the write comes; the view must return T0 and the backup get T0.  (dm-delay
# serves reads in order, so the write's own copy-before-write read also
# keeps it behind the view's read: this checks the outcome, it cannot prove
# the hold on its own.)
CH=65536
run dmsetup remove bk
save_image "$o" "$DMBT_TMP/t2"
cp "$DMBT_TMP/t2" "$DMBT_TMP/expect"
run dmsetup create slowo --table "0 $n delay $o 0 800 $o 0 0"
bk_create bk /dev/mapper/slowo "$b" none
run dmsetup create view --table "0 $n backup-view /dev/mapper/bk"
dd if=/dev/mapper/view of="$DMBT_TMP/v50" bs=$CH skip=50 count=1 iflag=direct status=none &
rd=$!
sleep 0.2
write_at /dev/mapper/bk $((50 * CH + 8192)) 4096 186 "$DMBT_TMP/expect"
wait "$rd" || fail "the view read failed"
dd if="$DMBT_TMP/t2" of="$DMBT_TMP/t50" bs=$CH skip=50 count=1 status=none
same "$DMBT_TMP/v50" "$DMBT_TMP/t50"
read_view "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t2"
run dmsetup remove view
run dmsetup remove bk
run dmsetup remove slowo
same "$o" "$DMBT_TMP/expect"
run dmsetup create bk --table "0 $n linear $o 0"

info "bad view tables"
expect_ctr_error "Not a dm device with a running backup job" "0 $n backup-view /dev/mapper/bk"
expect_ctr_error "Not a dm device with a running backup job" "0 $n backup-view $o"
expect_ctr_error "Invalid argument count" "0 $n backup-view"
expect_ctr_error "Invalid argument count" "0 $n backup-view /dev/mapper/bk x y"
expect_ctr_error "No running backup job copies this origin to this backup device" \
	"0 $n backup-view $o $b"
run dmsetup remove bk
bk_create bk "$o" "$b" none
expect_ctr_error "longer than the backup target" "0 $((n + 8)) backup-view /dev/mapper/bk"
run dmsetup remove bk
