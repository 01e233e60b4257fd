#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The examples of dmbackup(8) that use one volume run as written
# (recipes.sh): full (dmbackup on the mounted /dev/vg/home while an
# application writes files to it) and pull (a view of the mounted volume
# read by dd | gzip while the application writes files to it).  The thin,
# era and NBD examples: test_83, test_84, test_85.  Oracle: the image at the
# point in time (the file system frozen around `dmbackup start`), which
# /dev/sdc, or the gunzipped archive, must equal; the archive is a clean
# file system and the files written are intact on the volume.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/sdc "$bdisk"
trap 'fs_release /mnt/data' EXIT

info "full: dmbackup backs up the mounted /dev/vg/home while it is written"
fill_random /dev/sdc 821
run dmsetup create vg-home --table "0 $(sectors "$disk") linear $disk 0"
mkdir -p /dev/vg /mnt/data /backup
ln -sf ../mapper/vg-home /dev/vg/home
recipe_mkfs /dev/vg/home
run mount -t ext4 /dev/vg/home /mnt/data
start_freezes /dev/vg/home
app_start
recipe_run man full
app_stop
same /dev/sdc "$DMBT_TMP/t0"
run umount /mnt/data

info "pull: the view of the mounted /dev/vg/home, read while it is written"
app_fs /dev/vg/home
# /dev/sdc holds the backup just made: start refuses to use it as the
# pull's scratch space (as the text says); a blank scratch disk it takes.
expect_refusal "holds data (ext4 file system" dmbackup start /dev/vg/home /dev/sdc --mode none
fill_random /dev/sdc 805
dd() { view_dd "$@"; }
WRITER_MAX=16 app_start
recipe_run man pull
app_stop
unset -f dmbackup dd
app_pulled /backup/home.img.gz
run umount /mnt/data
run e2fsck -fn /dev/vg/home
run dmsetup remove vg-home
