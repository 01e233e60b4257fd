#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Change tracking (table option "track on" with "meta"): every chunk
# written since the point in time (writes, discards, write-zeroes) is
# recorded in the changed bitmap on the metadata device before the write
# reaches the origin, while the job runs and after it completed; rewrites
# cost nothing new.  Oracles: the set of
# chunks the test wrote, against the status line's count and against the
# changed bitmap read from the metadata device (after the table is gone:
# what a crash would find); the backup equals the image taken before the
# job, the origin every write.  A reload continues the record.  Tables
# that would mix tracked and untracked metadata are refused and change
# nothing, and so is an increment of a job that has not completed.  A
# stalled metadata device holds a write no longer than
# cbw_timeout: the write goes on and the record says "lost" (also after a
# reload), or under on_cbw_error fail_write the write fails and the record
# stays exact.
# timeout: 600
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1		# 256 chunks of 64 KiB
b=$(mkloop 16) || exit 1
m=$(mkloop 1) || exit 1
fill_random "$o" 38
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
: >"$DMBT_TMP/written"

# write_chunk <chunk> <seed>: a 4 KiB write 8 KiB into the chunk, noted.
write_chunk() {
	write_at /dev/mapper/bk $(($1 * 65536 + 8192)) 4096 "$2" "$DMBT_TMP/expect"
	echo "$1" >>"$DMBT_TMP/written"
}

# expect_count <what>, expect_on_disk <what>: the status count, and the
# set on the metadata device (the table must be gone), are the chunks
# written.
expect_count() {
	want=$(sort -un "$DMBT_TMP/written" | wc -l)
	got=$(backup_status bk changed)
	[ "$got" = "$want" ] || fail "$1: status says $got chunks changed, $want written"
}
expect_on_disk() {
	sort -un "$DMBT_TMP/written" >"$DMBT_TMP/want"
	md_chunks "$m" 2 >"$DMBT_TMP/got"
	cmp -s "$DMBT_TMP/want" "$DMBT_TMP/got" ||
		fail "$1: changed bitmap $(tr '\n' ' ' <"$DMBT_TMP/got")" \
			"!= written $(tr '\n' ' ' <"$DMBT_TMP/want")"
}

info "refusals: track needs meta; bad value"
expect_ctr_error "track on needs a metadata device" "$(bk_table "$o" "$b" full 2 track on)"
expect_ctr_error "Invalid track" "$(bk_table "$o" "$b" full 4 track maybe meta "$m")"
truncate -s 20K "$DMBT_TMP/small.img" || fail "truncate failed"
small=$(losetup --show -f "$DMBT_TMP/small.img") || fail "losetup failed"
expect_ctr_error "too small: it needs 8 KiB and 16 KiB per 32768 chunks (track)" \
	"$(bk_table "$o" "$b" full 4 meta "$small" track on)"
run losetup -d "$small"

info "a tracking job: writes during the walk are recorded, once per chunk"
bk_create bk "$o" "$b" full 6 speed 65536 meta "$m" track on
[ "$(backup_status bk changed)" = 0 ] || fail "changed at start: $(backup_status bk)"
dmsetup table bk | grep -q " track on" || fail "table line lacks track: $(dmsetup table bk)"
for c in 200 3 77 3 255 120; do
	write_chunk "$c" "$((c + 1000))"
done
expect_count "during the walk"
write_at /dev/mapper/bk $((77 * 65536)) 131072 5 "$DMBT_TMP/expect"	# 77 and 78
echo 78 >>"$DMBT_TMP/written"
expect_count "a write over two chunks"
table=$(dmsetup table bk)

info "no increment of a job that has not completed"
# Paused, so that it has not completed however slow the kernel (debug).
run dmsetup message bk 0 pause
uuid=$(backup_status bk job_uuid)
if dmsetup load bk --table "$(bk_table "$o" "$b" top 6 meta "$m" track on increment "$uuid")" \
	2>/dev/null; then
	fail "an increment of a running job accepted"
fi
dmesg | tail -n 5 | grep -q "has not completed" || fail "no reason logged: $(dmesg | tail -n 3)"
dmsetup clear bk
run dmsetup message bk 0 resume

info "a reload cannot change track"
if dmsetup load bk --table "$(echo "$table" | sed 's/ 6 speed/ 4 speed/; s/ track on//')" \
	2>/dev/null; then
	fail "reload without track accepted"
fi
dmesg | tail -n 5 | grep -q "cannot change track" || fail "no reason logged: $(dmesg | tail -n 3)"
dmsetup clear bk

info "after completion the target keeps tracking"
run dmsetup message bk 0 speed 0
wait_state bk completed 120
same "$b" "$DMBT_TMP/t0"
for c in 9 200 10; do
	write_chunk "$c" "$((c + 2000))"
done
expect_count "after completion"
info "a discard and a write-zeroes are recorded as writes"
run blkdiscard -o $((150 * 65536)) -l 65536 /dev/mapper/bk
run blkdiscard -z -o $((151 * 65536)) -l 65536 /dev/mapper/bk
dd if=/dev/zero of="$DMBT_TMP/expect" bs=65536 seek=150 count=2 conv=notrunc status=none
printf '150\n151\n' >>"$DMBT_TMP/written"
expect_count "discards"
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
expect_on_disk "after remove"

info "the same table continues the record"
bk_create bk "$o" "$b" full 6 speed 1048576 meta "$m" track on
[ "$(backup_state bk)" = completed ] || fail "state: $(backup_status bk)"
expect_count "after reload"
write_chunk 11 3000
write_chunk 9 3001
expect_count "after reload and writes"
run dmsetup remove bk
expect_on_disk "second remove"

info "tracked metadata needs track on, untracked refuses it"
sum=$(md5sum <"$m")
expect_ctr_error "tracks changes (table lacks track on)" \
	"$(bk_table "$o" "$b" full 4 speed 1048576 meta "$m")"
m2=$(mkloop 1) || exit 1
bk_create bk2 "$o" "$b" full 2 meta "$m2"
run dmsetup remove bk2
sum2=$(md5sum <"$m2")
expect_ctr_error "does not track changes (table has track on)" \
	"$(bk_table "$o" "$b" full 4 meta "$m2" track on)"
[ "$(md5sum <"$m")" = "$sum" ] && [ "$(md5sum <"$m2")" = "$sum2" ] ||
	fail "refused tables changed the metadata"

info "a stalled metadata device: the write goes on after cbw_timeout, the record is lost"
dd if=/dev/zero of="$m2" bs=4096 count=2 status=none
run dmsetup create mgate --table "0 $(sectors "$m2") linear $m2 0"
bk_create bk "$o" "$b" none 6 cbw_timeout 2000 meta /dev/mapper/mgate track on
write_chunk 30 4000
run dmsetup suspend --noflush mgate
t0=$(date +%s)
write_at /dev/mapper/bk $((31 * 65536)) 4096 4001 "$DMBT_TMP/expect"
waited=$(($(date +%s) - t0))
[ "$waited" -ge 1 ] || fail "the write did not wait for its record ($waited s)"
[ "$waited" -le 15 ] || fail "the write waited $waited s for a stalled metadata device"
[ "$(backup_status bk changed)" = lost ] || fail "record not lost: $(backup_status bk)"
dmesg | tail -n 10 | grep -q "change record lost" || fail "not logged: $(dmesg | tail -n 3)"
run dmsetup resume mgate
run dmsetup remove bk
bk_create bk "$o" "$b" none 6 cbw_timeout 2000 meta /dev/mapper/mgate track on
[ "$(backup_status bk changed)" = lost ] || fail "lost record not recorded: $(backup_status bk)"
run dmsetup remove bk

info "under fail_write the stalled write fails and the record stays exact"
dd if=/dev/zero of=/dev/mapper/mgate bs=4096 count=2 status=none
bk_create bk "$o" "$b" none 8 cbw_timeout 2000 on_cbw_error fail_write \
	meta /dev/mapper/mgate track on
write_chunk 40 5000
run dmsetup suspend --noflush mgate
if dd if=/dev/zero of=/dev/mapper/bk bs=4096 count=1 seek=$((41 * 16)) \
	oflag=direct conv=notrunc status=none 2>/dev/null; then
	fail "a write whose record could not be committed succeeded"
fi
run dmsetup resume mgate
[ "$(backup_status bk changed)" = 1 ] || fail "record: $(backup_status bk)"
write_chunk 42 5001
[ "$(backup_status bk changed)" = 2 ] || fail "record after resume: $(backup_status bk)"
run dmsetup remove bk
run dmsetup remove mgate
same "$o" "$DMBT_TMP/expect"
