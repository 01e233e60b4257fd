#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup backs up a mounted ext4 volume onto a network block device: a
# file served by nbd-server on the VM's loopback interface, connected as
# /dev/nbd0 by nbd-client, while files are written to the volume.
# Oracle: as test_60, the filesystem is frozen around `dmbackup start`, so
# the T0 image read then is what the served file must equal bit for bit
# once the job completed and the client disconnected; e2fsck finds the
# served file clean, the volume gets its table back with its files intact.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/nbd.sh"

nbd_ready
disk=$(mkloop 64) || exit 1
served=$DMBT_TMP/served.img
truncate -s 64M "$served" || fail "cannot create $served"
fill_random "$served" 671		# the backup device starts as garbage
NBD_PID=
cleanup_nbd() {
	fs_release /mnt/vol
	nbd_disconnect
	nbd_stop
}
trap cleanup_nbd EXIT
nbd_serve "$served"
cat "$DMBT_TMP/nbd-client.log"
[ "$(sectors /dev/nbd0)" -eq 131072 ] ||
	fail "/dev/nbd0 has $(sectors /dev/nbd0) sectors, want 131072"
same /dev/nbd0 "$served"		# the client reads what the server serves

mkvol vol "$disk"
mkfs_mount /dev/mapper/vol /mnt/vol 8 670
table0=$(table_of vol)

WRITER_MAX=48 writer_start /mnt/vol "$DMBT_TMP/stop"
sleep 1

info "freeze, take T0, start the job onto /dev/nbd0, thaw"
frozen_start /mnt/vol /dev/mapper/vol /dev/nbd0 --speed 8M
set -- $(table_of vol)
[ "$3" = backup ] || fail "no backup table on vol: $(table_of vol)"
[ "$5" = "$(cat /sys/block/nbd0/dev)" ] || fail "the backup device is not nbd0: $*"

run dmbackup wait /dev/mapper/vol --interval 5
finish_live_job vol /dev/mapper/vol "$table0"
n=$NWRITTEN
sync
files_intact /mnt/vol "$n"
before_intact /mnt/vol 8 670
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol

info "disconnect; the served file is the T0 image"
run nbd-client -d /dev/nbd0
kill "$NBD_PID" 2>/dev/null
wait "$NBD_PID" 2>/dev/null
NBD_PID=
same "$served" "$DMBT_TMP/t0"
run e2fsck -fn "$served"
run dmsetup remove vol
