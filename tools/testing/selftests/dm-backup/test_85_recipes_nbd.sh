#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The NBD recipes of dm-backup.rst and dmbackup(8) run as written
# (recipes.sh): nbd-server serves /srv/backup/vol.img with the
# configuration the rst shows, as "backupserver" (127.0.0.1 in /etc/hosts,
# the VM's loopback), and the recipe backs the mounted volume up onto
# /dev/nbd0 while an application writes files to it: rst nbd on /dev/vg/lv,
# then man nbd on /dev/vg/home.
# Oracle: the image at the point in time (the file system frozen around
# `dmbackup start`), which the served file must equal.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"
. "$DMBT_DIR/nbd.sh"

command -v nbd-server >/dev/null || fail "nbd-server is not in the initramfs"
lo_up
grep -q backupserver /etc/hosts 2>/dev/null || echo "127.0.0.1 backupserver" >>/etc/hosts

served=/srv/backup/vol.img
mkdir -p /srv/backup /etc/nbd-server
truncate -s 64M "$served" || fail "cannot create $served"
cat >/etc/nbd-server/config <<'EOC'
[generic]
[backup]
    exportname = /srv/backup/vol.img
    flush = true
EOC
NBD_PID=
trap 'fs_release /mnt/data; nbd_disconnect; nbd_stop' EXIT
# nbd_serve: serve the configuration above, for one connection (-d: in
# the foreground, in the test's session, so the runner kills it even if
# this test dies before its trap runs; it serves one client, then exits).
nbd_serve() {
	nbd-server -d >"$DMBT_TMP/nbd-server.log" 2>&1 &
	NBD_PID=$!
	sleep 1
	kill -0 "$NBD_PID" 2>/dev/null || fail "nbd-server died: $(cat "$DMBT_TMP/nbd-server.log")"
}

start_freezes

# one <doc> nbd <lv>: a mounted ext4 on /dev/vg/<lv>; the recipe while it
# is written; the served file is the point-in-time image.
one() {
	set -- "$1" "$3"
	fill_random "$served" 851
	disk=$(mkloop 64) || exit 1
	run dmsetup create "vg-$2" --table "0 $(sectors "$disk") linear $disk 0"
	mkdir -p /dev/vg /mnt/data
	ln -sf "../mapper/vg-$2" "/dev/vg/$2"
	recipe_mkfs "/dev/vg/$2"
	run mount -t ext4 "/dev/vg/$2" /mnt/data
	nbd_serve
	app_start
	recipe_run "$1" nbd
	app_stop
	[ ! -e /sys/block/nbd0/pid ] || fail "the recipe left /dev/nbd0 connected"
	kill "$NBD_PID" 2>/dev/null
	wait "$NBD_PID" 2>/dev/null
	NBD_PID=
	same "$served" "$DMBT_TMP/t0"
	run umount /mnt/data
	run dmsetup remove "vg-$2"
	info "$1 nbd: the served file is the volume at the point in time"
}

one rst nbd lv
one man nbd home
unset -f dmbackup
