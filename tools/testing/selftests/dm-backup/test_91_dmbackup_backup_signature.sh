#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup start does not write over what a backup device holds, as mkfs
# does not: a file system (the last good backup of the volume, say) or an
# LVM physical volume is refused with what was found, and nothing changes;
# --force writes over it and says so.  A device blkid finds nothing on
# (random data) is taken as before.
# Oracles: a refused backup device is bit for bit what it was (checksum, or
# the first backup's T0 image), the volume keeps its table; each backup
# taken equals its T0 image and its file system is clean.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 4 910
table0=$(table_of vol)
export LVM_SUPPRESS_FD_WARNINGS=1

# fs_uuid <dev>: the UUID of the ext4 on it (s_uuid, at byte 104 of the
# superblock, which starts at 1024), as blkid prints it.
fs_uuid() {
	dd if="$1" bs=1 skip=1128 count=16 status=none | od -An -tx1 | tr -d ' \n' |
		sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/'
}

# refused_untouched <pattern>: start onto $bdisk is refused saying pattern,
# and neither the backup device nor the volume changed.
refused_untouched() {
	_ru_sum=$(md5sum <"$bdisk")
	expect_refusal "$1" dmbackup start /dev/mapper/vol "$bdisk"
	[ "$(md5sum <"$bdisk")" = "$_ru_sum" ] || fail "the refused backup device changed"
	vol_untouched vol "$table0"
}

# backup_now [start options]: a whole job onto $bdisk, T0 in $DMBT_TMP/t0.
backup_now() {
	frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --speed 16M "$@"
	dmbackup wait /dev/mapper/vol --interval 1 || fail "dmbackup wait: exit code $?"
	run dmbackup finish /dev/mapper/vol
	vol_untouched vol "$table0"
	same "$bdisk" "$DMBT_TMP/t0"
	run e2fsck -fn "$bdisk"
}

info "a backup device with a file system of its own is refused"
run mke2fs -q -t ext4 -F -L lastgood "$bdisk"
uuid=$(fs_uuid "$bdisk")
[ ${#uuid} -eq 36 ] || fail "cannot read the UUID of the file system: '$uuid'"
refused_untouched "holds data (ext4 file system (UUID $uuid, label lastgood))"
refused_untouched "use --force"

info "an LVM physical volume too"
run lvm pvcreate -q -y -ff "$bdisk"
refused_untouched "holds data (LVM2_member raid"
run lvm pvremove -q -y -ff "$bdisk"

info "random data holds no signature: the first backup is taken"
fill_random "$bdisk" 911
backup_now
cp "$DMBT_TMP/t0" "$DMBT_TMP/first"

info "the next backup onto it is refused: the first stays as it was"
dmbt-prng 912 1M >/mnt/vol/after-first || fail "cannot write after-first"
sync
refused_untouched "holds data (ext4 file system (UUID $(fs_uuid /dev/mapper/vol)"
same "$bdisk" "$DMBT_TMP/first"

info "--force writes over it, and says so"
backup_now --force
grep -q "^$bdisk holds data (ext4 file system .*: overwriting it (--force)" \
	"$DMBT_TMP/start.out" || fail "start --force did not say what it overwrote"
cmp -s "$DMBT_TMP/t0" "$DMBT_TMP/first" && fail "the second T0 equals the first"
before_intact /mnt/vol 4 910
run umount /mnt/vol
