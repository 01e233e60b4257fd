#!/bin/sh
# The pull-style recipes of dm-backup.rst run as written (recipes.sh):
# view-dmsetup (a view of bk over /dev/sdb) and view-dmbackup (a view of the
# job on /dev/vg/lv), each read by dd | gzip while a program writes the
# device directly.  Pending: a view of a mounted volume is refused (EBUSY)
# until the backup-view target can open a mounted volume.
# Oracle: the image at the point in time (the device read before `dmsetup
# create` or `dmbackup start`, its writer resting), which the gunzipped
# archive must equal.
# timeout: 240
. "$DMBT_DIR/lib.sh"
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

info "view-dmbackup: a program writes /dev/vg/lv while the view is read"
run dmsetup create vg-lv --table "0 $(sectors /dev/sdb) linear /dev/sdb 0"
mkdir -p /dev/vg
ln -sf ../mapper/vg-lv /dev/vg/lv
dmbackup() {
	if [ "$1" = start ]; then
		raw_stop
		direct_image /dev/vg/lv "$DMBT_TMP/t0"
		command dmbackup "$@" || return
		raw_start /dev/vg/lv
		return 0
	fi
	command dmbackup "$@"
}
raw_start /dev/vg/lv
recipe_run rst view-dmbackup
raw_stop
unset -f dmbackup
gunzip -c /backup/lv.img.gz >"$DMBT_TMP/pulled" || fail "gunzip failed"
same "$DMBT_TMP/pulled" "$DMBT_TMP/t0"
run dmsetup remove vg-lv
