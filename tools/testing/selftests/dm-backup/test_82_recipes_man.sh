#!/bin/sh
# The examples of dmbackup(8) that use one volume run as written
# (recipes.sh): full (dmbackup on the mounted /dev/vg/home while an
# application writes files to it) and pull (a view of the volume read by
# dd | gzip while a program writes the volume directly: a view of a mounted
# volume is pending).  The thin, era and NBD examples: test_83, test_84,
# test_85.  Oracle: the image at the point in time (the file system frozen
# around `dmbackup start`, or the volume read before it while its writer
# rests), which /dev/sdc, or the gunzipped archive, must equal.
# timeout: 240
. "$DMBT_DIR/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/sdc "$bdisk"
trap 'fsfreeze --unfreeze /mnt/data 2>/dev/null; umount -l /mnt/data 2>/dev/null' EXIT

info "full: dmbackup backs up the mounted /dev/vg/home while it is written"
fill_random /dev/sdc 821
run dmsetup create vg-home --table "0 $(sectors "$disk") linear $disk 0"
mkdir -p /dev/vg /mnt/data /backup
ln -sf ../mapper/vg-home /dev/vg/home
recipe_mkfs /dev/vg/home
run mount -t ext4 /dev/vg/home /mnt/data
dmbackup() {
	if [ "$1" = start ]; then
		frozen_image /mnt/data /dev/vg/home "$DMBT_TMP/t0"
		command dmbackup "$@"
		set -- $?
		thaw /mnt/data
		return "$1"
	fi
	command dmbackup "$@"
}
app_start
recipe_run man full
app_stop
unset -f dmbackup
same /dev/sdc "$DMBT_TMP/t0"
run umount /mnt/data

info "pull: the view of /dev/vg/home, read while a program writes the volume"
dmbackup() {
	if [ "$1" = start ]; then
		raw_stop
		direct_image /dev/vg/home "$DMBT_TMP/t0"
		command dmbackup "$@" || return
		raw_start /dev/vg/home
		return 0
	fi
	command dmbackup "$@"
}
raw_start /dev/vg/home
recipe_run man pull
raw_stop
unset -f dmbackup
gunzip -c /backup/home.img.gz >"$DMBT_TMP/pulled" || fail "gunzip failed"
same "$DMBT_TMP/pulled" "$DMBT_TMP/t0"
run dmsetup remove vg-home
