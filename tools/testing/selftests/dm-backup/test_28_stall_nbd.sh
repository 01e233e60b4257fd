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

command -v nbd-server >/dev/null || skip "nbd-server is not installed"
command -v nbd-client >/dev/null || skip "nbd-client is not installed"
grep -q '^nbd ' /proc/modules || load_mod nbd
[ -b /dev/nbd0 ] || fail "/dev/nbd0 does not exist (nbd module loaded?)"
[ -e /sys/block/nbd0/pid ] && fail "/dev/nbd0 is already connected"

ip link set lo up || fail "cannot bring up lo"
ip addr show lo | grep -q 'inet 127.0.0.1' ||
	ip addr add 127.0.0.1/8 dev lo || fail "cannot give lo 127.0.0.1"

disk=$(mkloop 64) || exit 1
served=$DMBT_TMP/served.img
truncate -s 64M "$served" || fail "cannot create $served"
cat >"$DMBT_TMP/nbd.conf" <<EOC
[generic]
	listenaddr = 127.0.0.1
	port = 10809
[dmbt]
	exportname = $served
	flush = true
EOC
NBD_PID=
cleanup_nbd() {
	[ -n "$NBD_PID" ] && kill -CONT "$NBD_PID" 2>/dev/null
	[ -n "$NBD_PID" ] && kill "$NBD_PID" 2>/dev/null
	fsfreeze --unfreeze /mnt/vol 2>/dev/null
	umount -l /mnt/vol 2>/dev/null
	[ -e /sys/block/nbd0/pid ] && nbd-client -d /dev/nbd0 >/dev/null 2>&1
}
trap cleanup_nbd EXIT
nbd-server -C "$DMBT_TMP/nbd.conf" -d >"$DMBT_TMP/nbd-server.log" 2>&1 &
NBD_PID=$!
i=0
until nbd-client -N dmbt 127.0.0.1 10809 /dev/nbd0 >"$DMBT_TMP/nbd-client.log" 2>&1; do
	i=$((i + 1))
	kill -0 "$NBD_PID" 2>/dev/null ||
		fail "nbd-server died: $(cat "$DMBT_TMP/nbd-server.log")"
	[ $i -lt 20 ] || fail "nbd-client cannot connect: $(cat "$DMBT_TMP/nbd-client.log")"
	sleep 0.5
done

mkvol vol "$disk"
run mke2fs -q -t ext4 -F /dev/mapper/vol
mkdir -p /mnt/vol
run mount -t ext4 /dev/mapper/vol /mnt/vol
for i in 1 2 3 4; do
	dmbt-prng $((280 + i)) 1M >/mnt/vol/before-$i
done
sync
table0=$(table_of vol)
WRITER_MAX=48 writer_start /mnt/vol "$DMBT_TMP/stop"
sleep 1

run dmbackup start /dev/mapper/vol /dev/nbd0 --speed 1M --cbw-timeout 3000
dmsetup table vol | grep -q "cbw_timeout 3000" || fail "table: $(dmsetup table vol)"
wait_copied vol 4 60
writer_beats "$DMBT_TMP/stop"

info "the NBD server stops answering"
kill -STOP "$NBD_PID" || fail "cannot stop nbd-server"
wait_state vol failed 60
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
for i in 1 2 3 4; do
	dmbt-prng $((280 + i)) 1M | cmp -s - /mnt/vol/before-$i || fail "before-$i damaged"
done

info "the server dies: the stalled copies fail without their table"
kill -KILL "$NBD_PID"
wait "$NBD_PID" 2>/dev/null
NBD_PID=
sleep 2
nbd-client -d /dev/nbd0 >/dev/null 2>&1
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol
run dmsetup remove vol
