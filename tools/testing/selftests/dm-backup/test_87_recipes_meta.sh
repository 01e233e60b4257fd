#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The persistent-job recipes of the README and dmbackup(8) run as written
# (recipes.sh): `dmbackup start --meta /dev/meta` on the mounted volume
# while an application writes files to it, wait, finish, and `dmbackup
# info /dev/meta` exits 0 (completed).  Needs the kernel's persistent jobs
# (the table argument meta).  Oracle: the image at the point in time (the
# file system frozen around `dmbackup start`), which /dev/sdc must equal; a
# clean file system; the files written are intact; info names the job
# that status named.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
mdisk=$(mkloop 1) || exit 1
recipe_node /dev/sdc "$bdisk"
recipe_node /dev/meta "$mdisk"
trap 'fs_release /mnt/data' EXIT

# persistent_done <volume>: the job on /dev/meta completed (info exits 0),
# and it is the job status named while it ran ($DMBT_TMP/uuid).
persistent_done() {
	dmbackup info /dev/meta >"$DMBT_TMP/info" 2>&1 ||
		{ cat "$DMBT_TMP/info"; fail "dmbackup info /dev/meta: exit code $?"; }
	cat "$DMBT_TMP/info"
	grep -q "state: *completed" "$DMBT_TMP/info" || fail "info: not completed"
	grep -q "dm-backup job $(cat "$DMBT_TMP/uuid")" "$DMBT_TMP/info" ||
		fail "info names another job than status did"
}

# persistent_wrap: from now on, `dmbackup start` freezes /mnt/data around
# it and saves the image of the volume as $DMBT_TMP/t0 (as start_freezes of
# recipes.sh), and `dmbackup wait` first notes the job's uuid from status
# in $DMBT_TMP/uuid (the recipe waits right after start).  `unset -f
# dmbackup` ends it.
persistent_wrap() {
	dmbackup() {
		case $1 in
		start)
			frozen_image /mnt/data "$2" "$DMBT_TMP/t0"
			command dmbackup "$@"
			set -- $?
			thaw /mnt/data
			return "$1"
			;;
		wait)
			command dmbackup status "$2" --interval 0 | tee "$DMBT_TMP/status"
			sed -n 's/.* job \([0-9a-f-]\{36\}\) persistent.*/\1/p' \
				"$DMBT_TMP/status" >"$DMBT_TMP/uuid"
			[ -s "$DMBT_TMP/uuid" ] ||
				fail "dmbackup status names no persistent job"
			;;
		esac
		command dmbackup "$@"
	}
}

info "README persistent: a persistent job of the mounted /dev/vg/lv while it is written"
fill_random /dev/sdc 871
recipe_lv "$disk"
persistent_wrap
app_start
recipe_run README persistent
app_stop
unset -f dmbackup
same /dev/sdc "$DMBT_TMP/t0"
run e2fsck -fn /dev/sdc
persistent_done
run umount /mnt/data
run dmsetup remove vg-lv

info "dmbackup(8) persistent: the same on /dev/vg/home"
disk=$(mkloop 64) || exit 1
fill_random /dev/sdc 872
dd if=/dev/zero of=/dev/meta bs=1M count=1 oflag=direct status=none ||
	fail "cannot zero /dev/meta"
run dmsetup create vg-home --table "0 $(sectors "$disk") linear $disk 0"
mkdir -p /dev/vg /mnt/data
ln -sf ../mapper/vg-home /dev/vg/home
recipe_mkfs /dev/vg/home
run mount -t ext4 /dev/vg/home /mnt/data
persistent_wrap
app_start
recipe_run man persistent
app_stop
unset -f dmbackup
same /dev/sdc "$DMBT_TMP/t0"
run e2fsck -fn /dev/sdc
persistent_done
run umount /mnt/data
run dmsetup remove vg-home
