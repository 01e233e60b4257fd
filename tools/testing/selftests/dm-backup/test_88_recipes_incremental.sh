#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The incremental-forever recipes of the README and dmbackup(8) run as
# written (recipes.sh): `dmbackup start --meta /dev/meta --track` on the
# mounted volume while an application writes files to it, then `dmbackup
# start --incremental` (with --list) and wait, the job staying under the
# volume.  Needs the kernel's change tracking (table option track).
# Oracles: the volume's image at each start's point in time (the file
# system frozen around it): /dev/sdc equals the last one, and the byte
# ranges of --list cover every chunk that differs between the image of the
# full backup and that of the first increment; a clean file system on
# /dev/sdc after finish --stop-tracking.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

bdisk=$(mkloop 32) || exit 1
mdisk=$(mkloop 1) || exit 1
recipe_node /dev/sdc "$bdisk"
recipe_node /dev/meta "$mdisk"
export DMBACKUP_JOBS_DIR="$DMBT_TMP/jobs"
mkdir -p /backup
trap 'fs_release /mnt/data' EXIT

# incremental_wrap <volume>: from now on, every `dmbackup start` freezes
# /mnt/data around it and saves the volume's image as $DMBT_TMP/img<n>
# (n = 1, 2, ...: its point in time).  `unset -f dmbackup` ends it.
incremental_wrap() {
	_iw_vol=$1
	_iw_n=0
	dmbackup() {
		if [ "$1" = start ]; then
			_iw_n=$((_iw_n + 1))
			frozen_image /mnt/data "$_iw_vol" "$DMBT_TMP/img$_iw_n"
			command dmbackup "$@"
			set -- $?
			thaw /mnt/data
			return "$1"
		fi
		command dmbackup "$@"
	}
}

# ranges_cover <ranges> <img_a> <img_b>: every 64 KiB chunk that differs
# between the images lies in a range "<offset> <length>" of the file.
ranges_cover() {
	awk '{ for (k = $1 / 65536; k < ($1 + $2) / 65536; k++) print k }' "$1" \
		>"$DMBT_TMP/listed"
	dmbt-chunkdiff "$2" "$3" 65536 >"$DMBT_TMP/diff" || fail "dmbt-chunkdiff failed"
	missing=$(grep -vxF -f "$DMBT_TMP/listed" "$DMBT_TMP/diff" | tr '\n' ' ')
	[ -z "$missing" ] || fail "chunks changed but not in $1: $missing"
	info "$1: $(wc -l <"$DMBT_TMP/listed") chunks listed, $(wc -l <"$DMBT_TMP/diff") differ"
}

# one <doc> <recipe> <volume> <dm name>: run the recipe on the mounted
# volume while the application writes, then check the backup.
one() {
	fill_random /dev/sdc "$5"
	dd if=/dev/zero of=/dev/meta bs=1M count=1 oflag=direct status=none ||
		fail "cannot zero /dev/meta"
	rm -f /backup/ranges
	incremental_wrap "$3"
	WRITER_MAX=24 app_start
	recipe_run "$1" "$2"
	app_stop
	unset -f dmbackup
	n=$(ls "$DMBT_TMP"/img* | wc -l)
	same /dev/sdc "$DMBT_TMP/img$n"
	ranges_cover /backup/ranges "$DMBT_TMP/img1" "$DMBT_TMP/img2"
	run dmbackup finish --stop-tracking "$3"
	rm -f "$DMBT_TMP"/img*
	run umount /mnt/data
	run e2fsck -fn /dev/sdc
	run dmsetup remove "$4"
}

info "README incremental: on the mounted /dev/vg/lv while it is written"
recipe_lv "$(mkloop 32)"
one README incremental /dev/vg/lv vg-lv 881

info "dmbackup(8) incremental: on the mounted /dev/vg/home while it is written"
disk=$(mkloop 32) || exit 1
run dmsetup create vg-home --table "0 $(sectors "$disk") linear $disk 0"
ln -sf ../mapper/vg-home /dev/vg/home
recipe_mkfs /dev/vg/home
run mount -t ext4 /dev/vg/home /mnt/data
one man incremental /dev/vg/home vg-home 882
