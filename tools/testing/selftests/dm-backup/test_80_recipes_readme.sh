#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The README's recipes run as written (recipes.sh): quick-start (dmbackup on
# the mounted /dev/vg/lv while an application writes files to it),
# quick-dmsetup (the same file system on /dev/sdb, remounted through bk),
# and pull (a view of the mounted /dev/vg/lv read by dd | gzip while the
# application writes files to it).  Oracle: the image at the point in time
# (the file system frozen around `dmbackup start`; /dev/sdb read before
# `dmsetup create`), which the backup, or the gunzipped archive, must equal;
# the archive is a clean file system and the files written are intact.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/sdb "$disk"
recipe_node /dev/sdc "$bdisk"
trap 'fs_release /mnt/data' EXIT

start_freezes /dev/vg/lv

info "quick-start: dmbackup backs up the mounted /dev/vg/lv while it is written"
fill_random /dev/sdc 801
recipe_lv "$disk"
app_start
recipe_run README quick-start
app_stop
same /dev/sdc "$DMBT_TMP/t0"
run e2fsck -fn /dev/sdc

info "pull: the view of the mounted /dev/vg/lv, read while it is written"
run umount /mnt/data
app_fs /dev/vg/lv
# /dev/sdc holds the backup just made: start refuses to use it as the
# pull's scratch space (as the text says); a blank scratch disk it takes.
expect_refusal "holds data (ext4 file system" dmbackup start /dev/vg/lv /dev/sdc --mode none
fill_random /dev/sdc 804
dd() { view_dd "$@"; }
mkdir -p /backup
WRITER_MAX=16 app_start
recipe_run README pull
app_stop
unset -f dmbackup dd
app_pulled /backup/lv.img.gz
run umount /mnt/data
run e2fsck -fn /dev/vg/lv
run dmsetup remove vg-lv

info "quick-dmsetup: the file system on /dev/sdb, remounted through bk"
# 160 MiB of data (no zero chunks): the walk at 32 MiB/s lasts 5 s, long
# enough for the recipe's pause and resume to meet it running.
recipe_node /dev/sdb "$(mkloop 160)" || exit 1
recipe_node /dev/sdc "$(mkloop 160)" || exit 1
fill_random /dev/sdb 803
recipe_mkfs /dev/sdb
fill_random /dev/sdc 802
run mount -t ext4 /dev/sdb /mnt/data
# The create is the point in time; the file system is unmounted then.
dmsetup() {
	[ "$1 $2" = "create bk" ] && direct_image /dev/sdb "$DMBT_TMP/t0"
	command dmsetup "$@"
}
app_on_bk_mount
app_start
recipe_run README quick-dmsetup
unset -f dmsetup mount umount

same /dev/sdc "$DMBT_TMP/t0"
run e2fsck -fn /dev/sdc
run umount /mnt/data
run e2fsck -fn /dev/sdb
