#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# `dmbackup reinstate` puts change-tracking jobs back after a reboot.  A
# mounted, written ext4 volume (dm-linear over a loop device) gets a full
# backup that tracks changes (start --meta --track), then files are
# written; then the machine "reboots": the file system is unmounted and
# the volume gets its original table back without the job (dmsetup load,
# resume, remove of the hidden device: what a boot leaves), the job's file
# in $DMBACKUP_JOBS_DIR stays.  `dmbackup reinstate` puts the job back
# (the same job, sync mode full, its record as before), the volume is
# mounted and written again, and an increment is exact.  Then the same
# once more with the increment as the job to reinstate (its table needs
# "increment <parent>", which reinstate reads from the metadata device),
# and the next increment is exact too.  A second reinstate leaves a volume
# that has its job alone.  Oracles: the volume's image at each increment's
# point in time (the file system frozen around the start), which the
# backup device must equal after the increment; the record (info --list
# changed) before the reboot is in the increment's map (md_chunks) after.
# tier: user
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

disk=$(mkloop 16) || exit 1
bdisk=$(mkloop 16) || exit 1
meta=$(mkloop 1) || exit 1
export DMBACKUP_JOBS_DIR="$DMBT_TMP/jobs"
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 4 980
table0=$(table_of vol)

# writes <k>: a file rewritten, one added, random 4 KiB writes, synced.
writes() {
	dmbt-prng "$((9810 + $1))" 1M >"/mnt/vol/before-$1"
	dmbt-prng "$((9820 + $1))" 256K >"/mnt/vol/new-$1"
	for j in 1 2 3; do
		dmbt-prng "$((9830 + $1 * 10 + j))" 4096 |
			dd of=/mnt/vol/before-4 bs=4096 seek=$(((j * 43 + $1 * 7) % 256)) \
				conv=notrunc status=none || fail "write into before-4 failed"
	done
	sync
}

# reboot_like: what a reboot leaves: no file system mounted, the volume
# with its original table, no hidden device, the jobs' files kept; the
# record then is $DMBT_TMP/changed.before.
reboot_like() {
	run umount /mnt/vol
	dmbackup info --list changed "$meta" >"$DMBT_TMP/changed.before"
	[ -s "$DMBT_TMP/changed.before" ] || fail "nothing recorded"
	run dmsetup load vol --table "$table0"
	run dmsetup suspend vol
	run dmsetup resume vol
	run dmsetup remove vol-dmbackup-origin
	vol_untouched vol "$table0"
}

# reinstated <uuid> <mode>: the volume runs job uuid again, in that sync
# mode, completed, recording; its record is the one before the reboot.
reinstated() {
	set -- "$1" "$2" "$(table_of vol)"
	echo "$3"
	echo "$3" | grep -q " backup .* $2 .*meta .* track on" ||
		fail "reinstate loaded '$3'"
	[ "$(backup_status vol job_uuid)" = "$1" ] ||
		fail "reinstated job $(backup_status vol job_uuid), want $1"
	[ "$(backup_status vol state)" = completed ] || fail "not completed: $(backup_status vol)"
	dmbackup info --list changed "$meta" >"$DMBT_TMP/changed.after"
	cmp -s "$DMBT_TMP/changed.before" "$DMBT_TMP/changed.after" ||
		fail "the record changed across the reboot"
}

# increment <k>: freeze, image the volume as t<k>, start --incremental,
# thaw, wait; the backup equals t<k>, and its map holds the record taken
# before the reboot.
increment() {
	run fsfreeze --freeze /mnt/vol
	dd if=/dev/mapper/vol of="$DMBT_TMP/t$1" bs=1M iflag=direct status=none ||
		{ fsfreeze --unfreeze /mnt/vol; fail "cannot image the volume"; }
	dmbackup start --incremental /dev/mapper/vol >"$DMBT_TMP/inc.out" 2>&1
	rc=$?
	fsfreeze --unfreeze /mnt/vol
	cat "$DMBT_TMP/inc.out"
	[ $rc -eq 0 ] || fail "dmbackup start --incremental failed (rc $rc)"
	run dmbackup wait /dev/mapper/vol --interval 0
	same "$bdisk" "$DMBT_TMP/t$1"
	md_chunks "$meta" 3 >"$DMBT_TMP/map"
	awk '{ for (k = $1 / 65536; k < ($1 + $2) / 65536; k++) print k }' \
		"$DMBT_TMP/changed.before" >"$DMBT_TMP/record"
	missing=$(grep -vxF -f "$DMBT_TMP/map" "$DMBT_TMP/record" | tr '\n' ' ')
	[ -z "$missing" ] || fail "increment $1: recorded chunks not in its map: $missing"
}

info "reinstate without any job file: nothing to do"
run dmbackup reinstate

info "the full backup, tracking"
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --meta "$meta" --track
run dmbackup wait /dev/mapper/vol --interval 0
same "$bdisk" "$DMBT_TMP/t0"
cat "$DMBACKUP_JOBS_DIR/vol.conf"
uuid=$(backup_status vol job_uuid)

k=1
for mode in full top; do
	info "writes, then a reboot with job $uuid ($mode)"
	writes $k
	reboot_like
	run dmbackup reinstate
	reinstated "$uuid" "$mode"
	info "a second reinstate leaves the volume alone"
	table_job=$(table_of vol)
	run dmbackup reinstate
	[ "$(table_of vol)" = "$table_job" ] || fail "a second reinstate changed the table"
	run mount -t ext4 /dev/mapper/vol /mnt/vol
	writes $((k + 1))
	increment $k
	uuid=$(backup_status vol job_uuid)
	k=$((k + 1))
done

run dmbackup finish --stop-tracking /dev/mapper/vol
vol_untouched vol "$table0"
dmbt-prng 9812 1M | cmp -s - /mnt/vol/before-2 || fail "before-2 damaged"
run umount /mnt/vol
run e2fsck -fn "$bdisk"
