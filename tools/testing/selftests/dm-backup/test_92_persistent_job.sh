#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A persistent job (table option "meta <dev>"): a zeroed metadata device
# starts a new job; removing the table and loading the same one continues
# it with the same uuid, point in time and progress, and the backup equals
# the image taken before the job; a completed job stays completed; cancel
# is recorded; a reload cannot change the metadata device; metadata that
# does not match the table, is not dm-backup metadata or is too small is
# refused and left as it was.  A stalled backup device fails a persistent
# job after cbw_timeout without holding the write, and the failure is
# recorded.
# timeout: 600
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
m=$(mkloop 1) || exit 1
m2=$(mkloop 1) || exit 1
fill_random "$o" 92
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
dir() { echo "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")/backup"; }
# meta_magic <dev>: the magic of the superblock in block 0 or 1.
meta_magic() {
	drop_caches "$1"
	{ dd if="$1" bs=8 count=1 status=none; echo;
	  dd if="$1" bs=8 count=1 skip=512 status=none; echo; } | grep -c DMBKMETA
}

info "a zeroed metadata device: a new persistent job, formatted at resume"
bk_create bk "$o" "$b" full 4 speed 1048576 meta "$m"
[ "$(backup_status bk persistence)" = persistent ] ||
	fail "not persistent: $(backup_status bk)"
[ "$(cat "$(dir bk)/persistent")" = 1 ] || fail "sysfs persistent: $(cat "$(dir bk)/persistent")"
uuid=$(backup_status bk job_uuid)
[ "$(cat "$(dir bk)/uuid")" = "$uuid" ] || fail "sysfs uuid $(cat "$(dir bk)/uuid") != $uuid"
[ "$(meta_magic "$m")" -ge 1 ] || fail "no superblock on the metadata device"
dmsetup table bk | grep -q " meta " || fail "table line lacks meta: $(dmsetup table bk)"
write_at /dev/mapper/bk 8999936 8192 1 "$DMBT_TMP/expect"
write_at /dev/mapper/bk 14999552 4096 2 "$DMBT_TMP/expect"
wait_copied bk 40
copied=$(bk_copied bk)
table=$(dmsetup table bk)

info "a reload must keep the metadata device"
if dmsetup load bk --table "$(echo "$table" | sed "s| meta [0-9:]*| meta $m2|")" 2>/dev/null; then
	fail "reload with another metadata device accepted"
fi
dmesg | tail -n 5 | grep -q "cannot change the metadata device" ||
	fail "no reason logged: $(dmesg | tail -n 3)"
dmsetup clear bk

info "remove mid-walk at $copied chunks; the same table continues the job"
run dmsetup remove bk
bk_create bk "$o" "$b" full 2 meta "$m"
[ "$(backup_status bk job_uuid)" = "$uuid" ] ||
	fail "uuid changed: $uuid -> $(backup_status bk job_uuid)"
now=$(bk_copied bk)
[ "$now" -ge "$copied" ] || fail "progress went back: $copied -> $now"
write_at /dev/mapper/bk 999936 4096 3 "$DMBT_TMP/expect"
wait_state bk completed 120
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk

info "a completed job loads as completed and copies nothing"
bk_create bk "$o" "$b" full 2 meta "$m"
[ "$(backup_state bk)" = completed ] || fail "state: $(backup_status bk)"
[ "$(backup_status bk job_uuid)" = "$uuid" ] || fail "uuid changed"
write_at /dev/mapper/bk 1999872 4096 4 "$DMBT_TMP/expect"
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk

info "metadata of another job is refused and left unchanged"
sum=$(md5sum <"$m")
expect_ctr_error "another chunk_size" "$(bk_table "$o" "$b" full 4 chunk_size 256 meta "$m")"
expect_ctr_error "another sync mode" "$(bk_table "$o" "$b" none 2 meta "$m")"
expect_ctr_error "another target length" \
	"0 $(($(sectors "$o") - 128)) backup $o $b full 2 meta $m"
expect_ctr_error "must differ from the origin and backup" \
	"$(bk_table "$o" "$b" full 2 meta "$b")"
[ "$(md5sum <"$m")" = "$sum" ] || fail "refused tables changed the metadata"
fill_random "$m2" 7
sum=$(md5sum <"$m2")
expect_ctr_error "no valid dm-backup superblock" "$(bk_table "$o" "$b" full 2 meta "$m2")"
[ "$(md5sum <"$m2")" = "$sum" ] || fail "refused table changed foreign data"
info "a metadata device too small for the bitmap is refused"
truncate -s 8K "$DMBT_TMP/small.img" || fail "truncate failed"
small=$(losetup --show -f "$DMBT_TMP/small.img") || fail "losetup failed"
expect_ctr_error "Metadata device too small" "$(bk_table "$o" "$b" full 2 meta "$small")"
run losetup -d "$small"
info "a superblock with a bad crc is not a job"
dd if="$m" of="$m2" bs=4096 count=2 conv=notrunc status=none
for blk in 0 1; do
	printf 'X' | dd of="$m2" bs=1 seek=$((blk * 4096 + 100)) conv=notrunc status=none
done
expect_ctr_error "no valid dm-backup superblock" "$(bk_table "$o" "$b" full 2 meta "$m2")"

info "cancel is recorded"
dd if=/dev/zero of="$m2" bs=1M count=1 status=none
bk_create bk "$o" "$b" full 4 speed 1048576 meta "$m2"
run dmsetup message bk 0 cancel
wait_state bk cancelled 10
run dmsetup remove bk
bk_create bk "$o" "$b" full 2 meta "$m2"
[ "$(backup_state bk)" = cancelled ] || fail "cancel not recorded: $(backup_status bk)"
run dmsetup remove bk

info "a stalled backup device: the write goes on after cbw_timeout, the failure is recorded"
dd if=/dev/zero of="$m2" bs=4096 count=2 status=none
run dmsetup create gate --table "0 $(sectors "$b") linear $b 0"
bk_create bk "$o" /dev/mapper/gate none 4 cbw_timeout 2000 meta "$m2"
run dmsetup suspend --noflush gate
t0=$(date +%s)
write_at /dev/mapper/bk 3000320 4096 5 "$DMBT_TMP/expect"
waited=$(($(date +%s) - t0))
[ "$waited" -le 15 ] || fail "the write waited $waited s for a stalled backup device"
[ "$(backup_state bk)" = failed ] || fail "job not failed: $(backup_status bk)"
[ "$(backup_status bk last_error)" = -110 ] || fail "not a timeout: $(backup_status bk)"
run dmsetup resume gate
run dmsetup remove bk
bk_create bk "$o" /dev/mapper/gate none 2 meta "$m2"
[ "$(backup_state bk)" = failed ] || fail "failure not recorded: $(backup_status bk)"
run dmsetup remove bk
run dmsetup remove gate
same "$o" "$DMBT_TMP/expect"
