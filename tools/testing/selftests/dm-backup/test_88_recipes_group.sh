#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The group recipes of README and dmbackup(8) run as written (recipes.sh):
# /dev/vg/db and /dev/vg/log, each an ext4 mounted and written by an
# application, backed up at one point in time onto /dev/sdc and /dev/sdd.
# Oracle: the images of both volumes at the shared instant, read through
# their hidden devices by the test hook of start (DMBACKUP_HOOK_AT, just
# before the first resume, while both volumes are suspended); each backup
# must equal its image and be a clean file system, and the files written
# are intact on the volumes.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

DD=/usr/bin/dd
[ -x $DD ] || DD=dd
db=$(mkloop 8) || exit 1
lg=$(mkloop 8) || exit 1
recipe_node /dev/sdc "$(mkloop 8)" || exit 1
recipe_node /dev/sdd "$(mkloop 8)" || exit 1
run dmsetup create vg-db --table "0 $(sectors "$db") linear $db 0"
run dmsetup create vg-log --table "0 $(sectors "$lg") linear $lg 0"
mkdir -p /dev/vg /mnt/data /mnt/log
ln -sf ../mapper/vg-db /dev/vg/db
ln -sf ../mapper/vg-log /dev/vg/log
trap 'fs_release /mnt/data; fs_release /mnt/log' EXIT
tdb=$(table_of vg-db)
tlog=$(table_of vg-log)

# The images at the shared instant, taken by start's test hook.
cat >"$DMBT_TMP/hook" <<EOF
$DD if=/dev/mapper/vg-db-dmbackup-origin of=$DMBT_TMP/idb bs=1M iflag=direct status=none &&
$DD if=/dev/mapper/vg-log-dmbackup-origin of=$DMBT_TMP/ilog bs=1M iflag=direct status=none
EOF
dmbackup() {
	if [ "$1" = start ]; then
		rm -f "$DMBT_TMP/idb" "$DMBT_TMP/ilog"
		DMBACKUP_HOOK_AT=resume:vg-db DMBACKUP_HOOK="sh $DMBT_TMP/hook" \
			command dmbackup "$@"
		return
	fi
	command dmbackup "$@"
}

# one <doc> <NAME>: run the group recipe NAME of doc on the mounted,
# written volumes, and check the backups against the images of the shared
# instant.
one() {
	fill_random /dev/sdc 881
	fill_random /dev/sdd 882
	recipe_mkfs /dev/vg/db
	recipe_mkfs /dev/vg/log
	run mount -t ext4 /dev/vg/db /mnt/data
	run mount -t ext4 /dev/vg/log /mnt/log
	WRITER_MAX=8 writer_start /mnt/data "$DMBT_TMP/stop1"
	w1=$WRITER
	WRITER_MAX=8 writer_start /mnt/log "$DMBT_TMP/stop2"
	w2=$WRITER
	recipe_run "$1" "$2"
	: >"$DMBT_TMP/stop1"
	: >"$DMBT_TMP/stop2"
	wait $w1 || fail "the writer of /mnt/data failed"
	wait $w2 || fail "the writer of /mnt/log failed"
	[ -s "$DMBT_TMP/idb" ] && [ -s "$DMBT_TMP/ilog" ] || fail "no images at the instant"
	same /dev/sdc "$DMBT_TMP/idb"
	same /dev/sdd "$DMBT_TMP/ilog"
	run e2fsck -fn /dev/sdc
	run e2fsck -fn /dev/sdd
	vol_untouched vg-db "$tdb"
	vol_untouched vg-log "$tlog"
	files_intact /mnt/data "$(cat "$DMBT_TMP/stop1.count")"
	files_intact /mnt/log "$(cat "$DMBT_TMP/stop2.count")"
	run umount /mnt/data
	run umount /mnt/log
	rm -f "$DMBT_TMP"/stop1* "$DMBT_TMP"/stop2*
}

info "README: group"
one README group
info "dmbackup(8): group"
one man group
