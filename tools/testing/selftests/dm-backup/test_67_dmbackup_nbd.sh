#!/bin/sh
# dmbackup backs up a mounted ext4 volume onto a network block device: a
# file served by nbd-server on the VM's loopback interface, connected as
# /dev/nbd0 by nbd-client, while files are written to the volume.
# Oracle: as test_60, the filesystem is frozen around `dmbackup start`, so
# the T0 image read then is what the served file must equal bit for bit
# once the job completed and the client disconnected; e2fsck finds the
# served file clean, the volume gets its table back with its files intact.
# timeout: 300
. "$DMBT_DIR/lib.sh"
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
	fsfreeze --unfreeze /mnt/vol 2>/dev/null
	umount -l /mnt/vol 2>/dev/null
	nbd_disconnect
	nbd_stop
}
trap cleanup_nbd EXIT
nbd_serve "$served"
cat "$DMBT_TMP/nbd-client.log"
[ "$(sectors /dev/nbd0)" -eq 131072 ] || fail "/dev/nbd0 has $(sectors /dev/nbd0) sectors, want 131072"
same /dev/nbd0 "$served"		# the client reads what the server serves

mkvol vol "$disk"
run mke2fs -q -t ext4 -F /dev/mapper/vol
mkdir -p /mnt/vol
run mount -t ext4 /dev/mapper/vol /mnt/vol
for i in 1 2 3 4 5 6 7 8; do
	dmbt-prng $((670 + i)) 1M >/mnt/vol/before-$i
done
sync
table0=$(table_of vol)

WRITER_MAX=48 writer_start /mnt/vol "$DMBT_TMP/stop"
sleep 1

info "freeze, take T0, start the job onto /dev/nbd0, thaw"
run fsfreeze --freeze /mnt/vol
dd if=/dev/mapper/vol of="$DMBT_TMP/t0" bs=1M iflag=direct status=none ||
	{ fsfreeze --unfreeze /mnt/vol; fail "cannot read T0"; }
dmbackup start /dev/mapper/vol /dev/nbd0 --speed 8M >"$DMBT_TMP/start.out" 2>&1
rc=$?
fsfreeze --unfreeze /mnt/vol
cat "$DMBT_TMP/start.out"
[ $rc -eq 0 ] || fail "dmbackup start failed (rc $rc)"
set -- $(table_of vol)
[ "$3" = backup ] || fail "no backup table on vol: $(table_of vol)"
[ "$5" = "$(cat /sys/block/nbd0/dev)" ] || fail "the backup device is not nbd0: $*"

run dmbackup wait /dev/mapper/vol --interval 5
finish_live_job vol /dev/mapper/vol "$table0"
n=$NWRITTEN
sync
files_intact /mnt/vol "$n"
for i in 1 2 3 4 5 6 7 8; do
	dmbt-prng $((670 + i)) 1M | cmp -s - /mnt/vol/before-$i || fail "before-$i damaged"
done
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
