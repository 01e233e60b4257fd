#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The dm-era recipes of dm-backup.rst and dmbackup(8) run as written
# (recipes.sh), one after the other: vol is dm-linear over the era device
# era (64 KiB blocks), mounted on /mnt/data while an application writes
# files to it: rst era-full and era-increment, then man era-full and
# era-increment.
# Oracle: the era device read (O_DIRECT) while vol is suspended for the
# backup: the point in time is the resume of vol by `dmbackup start
# --suspended`, and nothing reaches era in between.  /dev/sdc must equal it
# after each recipe.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

meta=$(mkloop 8) || exit 1
o=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/meta "$meta"
recipe_node /dev/sdc "$bdisk"
fill_random /dev/sdc 841
run dmsetup create era --table "0 $(sectors "$o") era /dev/meta $o 128"
run dmsetup create vol --table "0 $(sectors "$o") linear /dev/mapper/era 0"
mkdir -p /mnt/data /var/tmp
rm -rf /var/lib/dmbackup
trap 'umount -l /mnt/data 2>/dev/null' EXIT
recipe_mkfs /dev/mapper/vol
run mount -t ext4 /dev/mapper/vol /mnt/data

dmsetup() {
	command dmsetup "$@" || return
	[ "$1 $2" = "suspend vol" ] && direct_image /dev/mapper/era "$DMBT_TMP/t0"
	return 0
}

# one <doc> <recipe>: run it while the application writes.
one() {
	rm -f "$DMBT_TMP/t0"
	app_start
	recipe_run "$1" "$2"
	app_stop
	same /dev/sdc "$DMBT_TMP/t0"
	info "$1 $2: /dev/sdc is the volume at the point in time"
}

one rst era-full
one rst era-increment
grep -q '<range\|<block' era.xml || fail "the increment mapped nothing: $(cat era.xml)"
# /dev/sdc holds the last chain's backup: a new chain's full backup there
# is refused (--force would take it); the man page's chain starts on a
# blank disk, as a first one does.
expect_refusal "holds data (ext4 file system" dmbackup start vol /dev/sdc
fill_random /dev/sdc 842
one man era-full
one man era-increment
unset -f dmsetup
run umount /mnt/data
run e2fsck -fn /dev/sdc
