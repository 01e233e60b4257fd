#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# make demo: back up a live, mounted ext4 volume while files are being
# written to it, the way an admin would with an LVM volume:
#   1. "vol" is a dm-linear volume over a 256 MiB disk, ext4, mounted, busy;
#   2. `dmbackup start` moves its mapping to a hidden device and switches a
#      backup table in under the name "vol" in one suspend/resume;
#   3. a throttled full backup runs while files keep being written;
#   4. `dmbackup wait`, then `dmbackup finish` puts the original table
#      back; the files written meanwhile are intact;
#   5. the backup must equal the volume as it was at the switch (sha256),
#      and e2fsck must find the backup's filesystem clean.
DMBT_DIR=${DMBT_DIR:-$(cd "$(dirname "$0")" && pwd)}
. "$DMBT_DIR/lib.sh"
. "$DMBT_DIR/backup.sh"

step() { echo; echo "=== $*"; }
now() { cut -d' ' -f1 /proc/uptime; }

step "a 256 MiB volume with an ext4 filesystem and some files"
disk=$(mkloop 256) || exit 1
bdisk=$(mkloop 256) || exit 1
n=$(sectors "$disk")
run dmsetup create vol --table "0 $n linear $disk 0"
run mke2fs -q -t ext4 -F /dev/mapper/vol
mkdir -p /mnt/vol
run mount -t ext4 /dev/mapper/vol /mnt/vol
for i in $(seq 1 40); do
	dmbt-prng "$i" 1M >/mnt/vol/before-$i
done
sync
df -h /mnt/vol | tail -n 1

step "dmbackup start: a backup target goes in under the live volume's name"
# The oracle: freeze the filesystem, read the volume as it is (T0), and
# switch while it is frozen, so nothing changes between T0 and the switch.
run fsfreeze --freeze /mnt/vol
t0=$(dd if=/dev/mapper/vol bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1)
echo "T0 sha256 of the volume: $t0"
dmbackup start /dev/mapper/vol "$bdisk" --speed 32M
rc=$?
fsfreeze --unfreeze /mnt/vol
[ $rc -eq 0 ] || fail "dmbackup start failed"
start=$(now)
dmsetup table vol
dmsetup ls | sed 's/^/  /'

step "keep writing files while the backup runs (speed 32 MiB/s)"
i=0
while [ "$(backup_state vol)" = running ]; do
	i=$((i + 1))
	dmbt-prng "$((1000 + i))" 512K >/mnt/vol/during-$i
	[ $((i % 4)) -eq 0 ] && sync
	[ $((i % 16)) -eq 0 ] && dmbackup status vol --interval 0
	[ "$i" -lt 2000 ] || fail "the backup did not end"
done
sync
run dmbackup wait /dev/mapper/vol
end=$(now)
dmbackup status vol --interval 0
cbw=$(bk_cbw vol)

step "dmbackup finish: the original table goes back"
run dmbackup finish /dev/mapper/vol
dmsetup table vol
for j in $(seq 1 "$i"); do
	dmbt-prng "$((1000 + j))" 512K | cmp -s - /mnt/vol/during-$j ||
		fail "file during-$j is damaged"
done
run umount /mnt/vol
run dmsetup remove vol

step "verify the backup"
b=$(sha256sum "$bdisk" | cut -d' ' -f1)
echo "backup sha256:             $b"
[ "$b" = "$t0" ] || fail "the backup differs from the volume at the switch"
run e2fsck -fn "$bdisk"

step "summary"
secs=$(echo "$end $start" | awk '{printf "%.1f", $1 - $2}')
echo "demo: backed up a live 256 MiB ext4 volume in $secs s" \
	"while writing $i files ($((i / 2)) MiB); $cbw chunks were copied before a write;" \
	"backup sha256 equals T0; e2fsck clean; all files intact"
