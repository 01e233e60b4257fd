#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The backup device's geometry is checked when the table is loaded:
#   - its logical block size must divide the chunk size and the target
#     length, or the last chunk's write could not be done: a backup device
#     with 4096-byte sectors takes a target of a multiple of 8 sectors
#     (and then holds T0), not one of 8n - 1 sectors;
#   - it must not be zoned: copies write chunks out of order (a zoned
#     null_blk, where the kernel supports zoned devices).
# A logical block size larger than the smallest chunk (4 KiB) would be
# needed to see the chunk size refused; Linux block devices top out at
# 4096-byte logical blocks on x86-64, so that case is not exercised.
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1		# 32768 sectors, 512-byte sectors
f=/tmp/dmbt-loop.4k
truncate -s 16M "$f"
b4k=$(losetup --show -f --sector-size 4096 "$f") || fail "losetup --sector-size 4096 failed"
[ "$(blockdev --getss "$b4k")" = 4096 ] || fail "$b4k has $(blockdev --getss "$b4k")-byte sectors"
fill_random "$o" 121
save_image "$o" "$DMBT_TMP/t0"

msg="Backup device's logical block size does not divide the target length"
expect_ctr_error "$msg" "0 32767 backup $o $b4k full 2 chunk_size 8"
expect_ctr_error "$msg" "0 32764 backup $o $b4k full 2 chunk_size 8"
expect_ctr_error "$msg" "0 4097 backup $o $b4k full"

info "aligned lengths work, with the smallest chunk and with a partial last chunk"
for len in 32768 32760; do
	fill_random "$b4k" $len
	run dmsetup create bk --table "0 $len backup $o $b4k full 2 chunk_size 8"
	wait_state bk completed 120
	[ "$(backup_status bk target_errors)" = 0 ] || fail "target errors: $(backup_status bk)"
	run dmsetup remove bk
	same "$b4k" "$DMBT_TMP/t0" $((len * 512))
done
run dmsetup create bk --table "0 32760 backup $o $b4k full"	# 128-sector chunks
wait_state bk completed 120
run dmsetup remove bk
same "$b4k" "$DMBT_TMP/t0" $((32760 * 512))

info "a zoned backup device is refused"
if ! modprobe null_blk nr_devices=1 zoned=1 zone_size=4 gb=1; then
	# The debug kernel is built without CONFIG_BLK_DEV_ZONED.
	dmesg | tail -n 5 | grep -q "CONFIG_BLK_DEV_ZONED not enabled" ||
		fail "modprobe null_blk zoned=1 failed: $(dmesg | tail -n 2)"
	info "$(uname -r) has no zoned block devices: zoned case not run"
	exit 0
fi
[ -b /dev/nullb0 ] || fail "/dev/nullb0 did not appear"
[ "$(cat /sys/block/nullb0/queue/zoned)" = host-managed ] ||
	fail "nullb0 is not zoned: $(cat /sys/block/nullb0/queue/zoned)"
expect_ctr_error "Zoned backup devices are not supported" \
	"0 32768 backup $o /dev/nullb0 full"
