#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Stacking.  A mounted ext4 on a volume over dm-crypt (dm-linear + dm-delay
# when dm-crypt is not available) is restacked under its own name onto a
# backup table (suspend, load, resume: the documented procedure; T0 is
# taken while the volume is suspended, so the fs is frozen and clean), then
# files are written, overwritten and deleted during the throttled walk.
# At the same time a second dm-backup device over a different origin (a
# dm-linear over dm-delay) takes random writes.  Oracles: each backup ==
# its T0 image, e2fsck of the backup clean, each origin == its expected
# image (the fs one: the files read back as written).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

size=48
o=$(mkloop $size) || exit 1
b=$(mkloop $size) || exit 1
o2=$(mkloop 32) || exit 1
b2=$(mkloop 32) || exit 1
n=$(sectors "$o")
n2=$(sectors "$o2")

key=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
if grep -q '^dm_crypt ' /proc/modules || modprobe dm-crypt 2>/dev/null; then
	info "lower: dm-crypt"
	run dmsetup create lower --table "0 $n crypt aes-cbc-plain64 $key 0 $o 0"
else
	info "lower: dm-linear over dm-delay (no dm-crypt module)"
	run dmsetup create lowdelay --table "0 $n delay $o 0 5"
	run dmsetup create lower --table "0 $n linear /dev/mapper/lowdelay 0"
fi
run dmsetup create vol --table "0 $n linear /dev/mapper/lower 0"
run mke2fs -q -F -t ext4 -b 4096 /dev/mapper/vol
mkdir -p "$DMBT_TMP/mnt"
run mount -t ext4 /dev/mapper/vol "$DMBT_TMP/mnt"
i=0
while [ $i -lt 24 ]; do
	dmbt-prng $((100 + i)) 256K >"$DMBT_TMP/mnt/f$i" || fail "write f$i"
	i=$((i + 1))
done
sync

info "second device: origin behind dm-linear over dm-delay"
fill_random "$o2" 752
run dmsetup create dl2 --table "0 $n2 delay $o2 0 10"
run dmsetup create lin2 --table "0 $n2 linear /dev/mapper/dl2 0"
save_image /dev/mapper/lin2 "$DMBT_TMP/t0b"
cp "$DMBT_TMP/t0b" "$DMBT_TMP/expect2"
bk_create bk2 /dev/mapper/lin2 "$b2" full 2 speed 2097152

info "restack vol onto a backup table; T0 while suspended (fs frozen)"
run dmsetup suspend vol
# No sync/drop_caches (save_image) here: a sync would wait on the suspended
# vol forever.  O_DIRECT reads the lower device, the fs is frozen.
dd if=/dev/mapper/lower of="$DMBT_TMP/t0" bs=1M iflag=direct status=none ||
	fail "cannot save T0"
# 1 MiB/s: 48 s of walk, longer than the file writes below take even on
# a loaded host (the PREEMPT_RT kernel took 25 s for them).
run dmsetup load vol --table "0 $n backup /dev/mapper/lower $b full 2 speed 1048576"
run dmsetup resume vol
[ "$(backup_state vol)" = running ] || fail "vol: $(backup_status vol)"

bkp-io write /dev/mapper/bk2 "$DMBT_TMP/expect2" 75 600 4 512 131072 50 5 5 \
	>"$DMBT_TMP/io2" 2>&1 &
wpid=$!
info "files written, overwritten and deleted during the walk"
i=0
while [ $i -lt 24 ]; do
	dmbt-prng $((200 + i)) 384K >"$DMBT_TMP/mnt/g$i" || fail "write g$i"
	[ $((i % 3)) = 0 ] && rm -f "$DMBT_TMP/mnt/f$i"
	[ $((i % 3)) = 1 ] &&
		{ dmbt-prng $((300 + i)) 256K >"$DMBT_TMP/mnt/f$i" || fail "overwrite f$i"; }
	[ $((i % 4)) = 0 ] && sync
	i=$((i + 1))
done
sync
wait $wpid || fail "bkp-io on bk2 failed: $(cat "$DMBT_TMP/io2")"
info "vol: $(backup_status vol); bk2: $(backup_status bk2)"
[ "$(backup_state vol)" = running ] || fail "vol walk ended before the file writes"
[ "$(bk_cbw vol)" -gt 0 ] || fail "no copy-before-write under the fs"

run dmsetup message vol 0 speed 0
run dmsetup message bk2 0 speed 0
wait_state vol completed 180
wait_state bk2 completed 180

info "the backup of the fs: T0 exactly, and clean"
same "$b" "$DMBT_TMP/t0" $((n * 512))
run e2fsck -fn "$b"
info "the live fs: files as written"
i=0
while [ $i -lt 24 ]; do
	dmbt-prng $((200 + i)) 384K | cmp - "$DMBT_TMP/mnt/g$i" || fail "g$i differs"
	case $((i % 3)) in
	0) [ -e "$DMBT_TMP/mnt/f$i" ] && fail "f$i not deleted" ;;
	1) dmbt-prng $((300 + i)) 256K | cmp - "$DMBT_TMP/mnt/f$i" || fail "f$i differs" ;;
	2) dmbt-prng $((100 + i)) 256K | cmp - "$DMBT_TMP/mnt/f$i" || fail "f$i differs" ;;
	esac
	i=$((i + 1))
done
run umount "$DMBT_TMP/mnt"
run e2fsck -fn /dev/mapper/vol

info "the second device"
same "$b2" "$DMBT_TMP/t0b"
same /dev/mapper/lin2 "$DMBT_TMP/expect2"
same "$o2" "$DMBT_TMP/expect2"
run dmsetup remove vol
run dmsetup remove bk2
