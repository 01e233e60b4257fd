#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The pull-style recipes of dm-backup.rst run as written (recipes.sh):
# view-dmsetup (a view of bk over /dev/sdb, read by dd | gzip while a
# program writes /dev/mapper/bk directly) and view-dmbackup (a view of the
# job on the mounted /dev/vg/lv, read while an application writes files to
# it).  Oracle: the image at the point in time (the device read before
# `dmsetup create`, its writer resting; the file system frozen around
# `dmbackup start`), which the gunzipped archive must equal; for
# view-dmbackup the archive is a clean file system and the files written
# are intact on the volume.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/sdb "$disk"
recipe_node /dev/sdc "$bdisk"
# /dev/sdb starts as zeroes: gzip of random data crawls under TCG (about
# 1 MB/s); the program's writes put random data at scattered chunks.
fill_random /dev/sdc 862
mkdir -p /backup

info "view-dmsetup: a program writes /dev/mapper/bk while the view is read"
dmsetup() {
	case "$1 $2" in
	"create bk")
		direct_image /dev/sdb "$DMBT_TMP/t0"
		command dmsetup "$@" || return
		raw_start /dev/mapper/bk
		return 0
		;;
	"remove bk")
		raw_stop
		;;
	esac
	command dmsetup "$@"
}
recipe_run rst view-dmsetup
unset -f dmsetup
gunzip -c /backup/sdb.img.gz >"$DMBT_TMP/pulled" || fail "gunzip failed"
same "$DMBT_TMP/pulled" "$DMBT_TMP/t0"

info "view-dmbackup: the view of the mounted /dev/vg/lv, read while it is written"
run dmsetup create vg-lv --table "0 $(sectors /dev/sdb) linear /dev/sdb 0"
mkdir -p /dev/vg
ln -sf ../mapper/vg-lv /dev/vg/lv
trap 'fs_release /mnt/data' EXIT
app_fs /dev/vg/lv
start_freezes /dev/vg/lv
dd() { view_dd "$@"; }
WRITER_MAX=16 app_start
recipe_run rst view-dmbackup
app_stop
unset -f dmbackup dd
app_pulled /backup/lv.img.gz
run umount /mnt/data
run e2fsck -fn /dev/vg/lv
run dmsetup remove vg-lv
