#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A dead NBD server under a running job never freezes the volume.
# dmbackup backs up a mounted ext4 that files are written to onto
# /dev/nbd0, served by nbd-server on the VM's loopback interface, with
# --cbw-timeout 3000.  Then the server stops answering (SIGSTOP: its
# requests hang, as with a server gone without closing the connection):
#   - within the timeout the job fails by itself, the writer goes on,
#     `dmbackup status` says the backup device stalled;
#   - `dmbackup finish` puts the original table back while the server
#     still hangs;
#   - the server is killed: the stalled copies fail after their table is
#     gone, the client disconnects, and the kernel log stays clean.
# Oracle: every file written before and during the job is intact and
# e2fsck finds the volume clean.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/nbd.sh"

nbd_ready
disk=$(mkloop 64) || exit 1
served=$DMBT_TMP/served.img
truncate -s 64M "$served" || fail "cannot create $served"
NBD_PID=
cleanup_nbd() {
	nbd_stop
	fs_release /mnt/vol
	nbd_disconnect
}
trap cleanup_nbd EXIT
nbd_serve "$served"

mkvol vol "$disk"
mkfs_mount /dev/mapper/vol /mnt/vol 4 280
table0=$(table_of vol)
WRITER_MAX=48 writer_start /mnt/vol "$DMBT_TMP/stop"
sleep 1

run dmbackup start /dev/mapper/vol /dev/nbd0 --speed 1M --cbw-timeout 3000
dmsetup table vol | grep -q "cbw_timeout 3000" || fail "table: $(dmsetup table vol)"
wait_copied vol 4 60
writer_beats "$DMBT_TMP/stop"

info "the NBD server stops answering"
kill -STOP "$NBD_PID" || fail "cannot stop nbd-server"
# 24 MiB into the file system: more chunks than the copies in flight may
# hold buffers for, so writes wait for copies that never end, however far
# the walk got (on the debug kernel the writer's files alone met only
# copied chunks, and no write waited).
dd if=/dev/zero of=/mnt/vol/big bs=1M count=24 conv=fsync status=none &
big=$!
wait_state vol failed 60
wait "$big" || fail "the 24 MiB file could not be written"
rm -f /mnt/vol/big
[ "$(backup_status vol last_error)" = -110 ] || fail "last_error: $(backup_status vol)"
for i in 1 2 3; do
	writer_beats "$DMBT_TMP/stop"
done
out=$(dmbackup status /dev/mapper/vol 2>&1)
echo "$out"
echo "$out" | grep -q "failed: the backup device stalled" || fail "status does not say why"

info "finish while the server still hangs"
writer_stop "$DMBT_TMP/stop"
run timeout 60 dmbackup finish /dev/mapper/vol
vol_untouched vol "$table0"
files_intact /mnt/vol "$NWRITTEN"
before_intact /mnt/vol 4 280

info "the server dies: the stalled copies fail without their table"
kill -KILL "$NBD_PID"
wait "$NBD_PID" 2>/dev/null
NBD_PID=
sleep 2
nbd-client -d /dev/nbd0 >/dev/null 2>&1
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol
run dmsetup remove vol
