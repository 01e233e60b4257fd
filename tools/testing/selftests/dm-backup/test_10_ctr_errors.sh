#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every bad table line is refused with its own message in the kernel log
# and leaves no device; good lines are accepted and `dmsetup table` gives a
# canonical line that recreates the same device.
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 8) || exit 1		# 16384 sectors
b=$(mkloop 8) || exit 1
small=$(mkloop 4) || exit 1
n=16384

expect_ctr_error "Invalid argument count" "0 $n backup $o $b"
expect_ctr_error "Invalid argument count" "0 $n backup $o"
expect_ctr_error "Invalid sync mode" "0 $n backup $o $b fast"
expect_ctr_error "Invalid sync mode" "0 $n backup $o $b ''"
expect_ctr_error "Sync mode top needs a map" "0 $n backup $o $b top"
expect_ctr_error "A map is only for sync mode top" "0 $n backup $o $b none 2 map $small"
expect_ctr_error "A map is only for sync mode top" "0 $n backup $o $b full 2 map $small"
expect_ctr_error "Error opening map device" "0 $n backup $o $b top 2 map /dev/nonexistent"
expect_ctr_error "Duplicate optional argument" "0 $n backup $o $b top 4 map $small map $small"
# A map needs one bit per chunk: 1 GiB of 64 KiB chunks needs 2 KiB of map.
truncate -s 512 /tmp/dmbt-loop.tinymap
tiny=$(losetup --show -f /tmp/dmbt-loop.tinymap) || fail "losetup failed"
run dmsetup create z1 --table "0 2097152 zero"
run dmsetup create z2 --table "0 2097152 zero"
zz="/dev/mapper/z1 /dev/mapper/z2"
expect_ctr_error "Map device is too small" "0 2097152 backup $zz top 2 map $tiny"
dmsetup create zz --table "0 2097152 backup $zz top 4 chunk_size 2048 map $tiny" ||
	fail "a map of exactly enough bits was refused"
run dmsetup remove zz
run dmsetup remove z1
run dmsetup remove z2
expect_ctr_error "Invalid number of optional arguments" "0 $n backup $o $b full x"
expect_ctr_error "Invalid number of optional arguments" "0 $n backup $o $b full -2"
expect_ctr_error "Invalid number of optional arguments" \
	"0 $n backup $o $b full 6 speed 1 chunk_size 8 speed 2"
expect_ctr_error "Invalid number of optional arguments" "0 $n backup $o $b full 2 speed"
expect_ctr_error "key/value pairs" "0 $n backup $o $b full 1 speed"
expect_ctr_error "key/value pairs" "0 $n backup $o $b full 3 speed 1 chunk_size"
expect_ctr_error "Too many arguments" "0 $n backup $o $b full 2 speed 1 extra"
expect_ctr_error "Invalid number of optional arguments" "0 $n backup $o $b full extra"
expect_ctr_error "Unknown optional argument" "0 $n backup $o $b full 2 fast 1"
expect_ctr_error "Duplicate optional argument" "0 $n backup $o $b full 4 speed 1 speed 2"
expect_ctr_error "Duplicate optional argument" "0 $n backup $o $b full 4 chunk_size 8 chunk_size 8"
expect_ctr_error "Invalid speed" "0 $n backup $o $b full 2 speed -1"
expect_ctr_error "Invalid speed" "0 $n backup $o $b full 2 speed abc"
expect_ctr_error "Invalid speed" "0 $n backup $o $b full 2 speed 5X"
expect_ctr_error "Invalid speed" "0 $n backup $o $b full 2 speed 18446744073709551616"
expect_ctr_error "Invalid on_source_error" "0 $n backup $o $b full 2 on_source_error enospc"
expect_ctr_error "Invalid on_source_error" "0 $n backup $o $b full 2 on_source_error x"
expect_ctr_error "Invalid on_target_error" "0 $n backup $o $b full 2 on_target_error pause"
expect_ctr_error "Invalid on_cbw_error" "0 $n backup $o $b full 2 on_cbw_error report"
for cs in 0 4 100 4096 12 abc -8 4294967304 99999999999999999999; do
	expect_ctr_error "Invalid chunk_size" "0 $n backup $o $b full 2 chunk_size $cs"
done
expect_ctr_error "Error opening origin device" "0 $n backup /dev/nonexistent $b full"
expect_ctr_error "Error opening backup device" "0 $n backup $o /dev/nonexistent full"
expect_ctr_error "Backup device must differ" "0 $n backup $o $o full"
expect_ctr_error "Backup device is smaller" "0 $n backup $o $small full"
expect_ctr_error "Origin device is smaller" "0 $n backup $small $o full"
# A device named twice: dm holds it once and reopens it when a later
# reference asks for more (map: read, origin: the table's mode, backup:
# also write), freeing what the earlier reference got.  The target must
# follow, or its destructor puts a freed device (checked at the end).
expect_ctr_error "A map is only for sync mode top" "0 $n backup $o $b full 2 map $b"
expect_ctr_error "A map is only for sync mode top" "0 $n backup $o $b full 2 map $o"
echo "dmbt: ctr case: read-only table, origin = backup device" >/dev/kmsg
dmsetup create --readonly bad --table "0 $n backup $o $o full" 2>/dev/null &&
	fail "read-only table with the origin as its backup device accepted"
dmsetup info bad >/dev/null 2>&1 && dmsetup remove bad
dmesg | tail -n 5 | grep -qF "Backup device must differ" ||
	fail "read-only table, origin = backup device: $(dmesg | tail -n 3)"

info "good tables are accepted and read back canonically"
check_table() {
	_ct_in=$1 _ct_out=$2
	dmsetup create good --table "0 $n backup $o $b $_ct_in" ||
		fail "valid table refused: $_ct_in: $(dmesg | tail -n 2)"
	got=$(dmsetup table good | cut -d' ' -f4-)
	dmsetup remove good || fail "remove failed"
	# Device names come back as major:minor.
	want="$(cat /sys/block/${o#/dev/}/dev) $(cat /sys/block/${b#/dev/}/dev) $_ct_out"
	[ "$got" = "$want" ] || fail "table of '$_ct_in' reads back '$got', want '$want'"
	# The canonical line recreates the same device.
	dmsetup create again --table "0 $n backup $got" ||
		fail "canonical table refused: $got"
	again=$(dmsetup table again | cut -d' ' -f4-)
	dmsetup remove again
	[ "$again" = "$got" ] || fail "canonical line not stable: '$again' vs '$got'"
	echo "ok: '$_ct_in' -> '$got'"
}
check_table "full" "full"
check_table "FULL 0" "full"
check_table "full 2 speed 0" "full"
check_table "full 2 chunk_size 128" "full"
check_table "full 2 speed 1048576" "full 2 speed 1048576"
check_table "full 2 chunk_size 8" "full 2 chunk_size 8"
check_table "full 4 chunk_size 2048 speed 18446744073709551615" \
	"full 4 speed 18446744073709551615 chunk_size 2048"
check_table "none" "none"
check_table "NONE 2 speed 5" "none 2 speed 5"
check_table "full 6 on_cbw_error fail_write on_source_error stop on_target_error enospc" \
	"full 6 on_source_error stop on_target_error enospc on_cbw_error fail_write"
check_table "top 4 map $small chunk_size 8" \
	"top 4 chunk_size 8 map $(cat /sys/block/${small#/dev/}/dev)"
# The map on the backup device itself (nothing forbids it): status names
# the map and the destructor puts it after dm reopened it for writing.
check_table "top 2 map $b" "top 2 map $(cat /sys/block/${b#/dev/}/dev)"

info "a refused table changed nothing: the good device still works"
bk_create live "$o" "$b" full
wait_state live completed 60
dmsetup remove live || fail "remove failed"

info "every device the tables named was put exactly once"
dmesg | sed -n "/dmbt: start [0-9]* $DMBT_TEST\$/,\$p" >"$DMBT_TMP/dmesg"
if grep -E "not in table devices list|dm_put_device call missing" "$DMBT_TMP/dmesg"; then
	fail "dm-backup put a device it no longer held, or did not put one"
fi
