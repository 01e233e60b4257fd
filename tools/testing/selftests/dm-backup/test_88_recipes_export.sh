#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The pull-over-NBD recipes of README and dmbackup(8) run as written
# (recipes.sh): `dmbackup export` serves the image of a --mode none job on
# the mounted volume, and the "backup host" (the same VM: volhost is
# 127.0.0.1 in /etc/hosts) reads it with nbd-client as /dev/nbd1 and
# dd | gzip while an application writes files to the volume; then export
# --stop, cancel, finish.  README pull-nbd on /dev/vg/lv, man export on
# /dev/vg/home.
# Oracle: the image at the point in time (the file system frozen around
# `dmbackup start`), which the gunzipped archive must equal; the archive is
# a clean file system, the files written are intact on the volume, and no
# export is left.
# tier: user
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"
. "$DMBT_DIR/nbd.sh"

command -v nbd-server >/dev/null || fail "nbd-server is not in the initramfs"
command -v nbd-client >/dev/null || fail "nbd-client is not in the initramfs"
grep -q '^nbd ' /proc/modules || load_mod nbd nbds_max=4
[ -b /dev/nbd1 ] || fail "/dev/nbd1 does not exist"
[ ! -e /sys/block/nbd1/pid ] || fail "/dev/nbd1 is already connected"
lo_up
grep -q volhost /etc/hosts 2>/dev/null || echo "127.0.0.1 volhost" >>/etc/hosts
trap 'fs_release /mnt/data; nbd-client -d /dev/nbd1 >/dev/null 2>&1
	for p in /run/dmbackup/export-*.pid; do [ -e "$p" ] && kill "$(cat "$p")"; done' EXIT

# Small volumes (8 MiB, 2 MiB of files): under TCG, each nbd-server spends
# about 10 s on its TLS parameters before it serves, and NBD over the
# loopback interface reads about 1.5 MB/s.
disk=$(mkloop 8) || exit 1
bdisk=$(mkloop 8) || exit 1
recipe_node /dev/sdc "$bdisk"
mkdir -p /dev/vg /mnt/data /backup
start_freezes
dd() { view_dd "$@"; }

# one <doc> <recipe> <lv>: the recipe on a fresh mounted ext4 on /dev/vg/<lv>
# while the application writes it; the archive is the point-in-time image.
one() {
	info "$1 $2: /dev/vg/$3 pulled over NBD while it is written"
	fill_random /dev/sdc 881
	run dmsetup create "vg-$3" --table "0 $(sectors "$disk") linear $disk 0"
	ln -sf "../mapper/vg-$3" "/dev/vg/$3"
	app_fs "/dev/vg/$3"
	WRITER_MAX=8 app_start
	recipe_run "$1" "$2"
	app_stop
	[ ! -e /sys/block/nbd1/pid ] || fail "the recipe left /dev/nbd1 connected"
	[ -z "$(ls /run/dmbackup/ 2>/dev/null)" ] ||
		fail "the recipe left an export: $(ls /run/dmbackup/)"
	app_pulled "/backup/$3.img.gz"
	run umount /mnt/data
	run e2fsck -fn "/dev/vg/$3"
	run dmsetup remove "vg-$3"
}

one README pull-nbd lv
one man export home
unset -f dmbackup dd
