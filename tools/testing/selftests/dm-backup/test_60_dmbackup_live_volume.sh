#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup start/wait/finish backs up a mounted ext4 volume (dm-linear over a
# loop device, like an LVM LV) while files are being written to it.
# Oracle: the filesystem is frozen (fsfreeze) around `dmbackup start`, so
# nothing can change the volume between the T0 image read (O_DIRECT) and the
# point in time inside start; the backup must equal that image bit for bit.
# Afterwards the volume's table equals the original, the files written
# meanwhile are intact and e2fsck finds both filesystems clean.
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
fill_random "$bdisk" 601		# the backup device starts as garbage
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 8 0
table0=$(table_of vol)

WRITER_MAX=48 writer_start /mnt/vol "$DMBT_TMP/stop"
sleep 1

info "freeze, take T0, start the job, thaw"
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --speed 8M

info "the volume now runs the job over the hidden device"
dmsetup table vol
set -- $(table_of vol)
[ "$3" = backup ] || fail "no backup table on vol: $(table_of vol)"
[ "$(table_of vol-dmbackup-origin)" = "$table0" ] ||
	fail "hidden device table '$(table_of vol-dmbackup-origin)' != '$table0'"
[ -b /dev/mapper/vol-dmbackup-origin ] || fail "no /dev/mapper node for the hidden device"
hidden=$(dmsetup info -c --noheadings -o major,minor --separator : vol-dmbackup-origin | tr -d ' ')
[ "$4" = "$hidden" ] ||
	fail "the backup table's origin is not the hidden device"

out=$(dmbackup status)
echo "$out"
echo "$out" | grep -q '^vol: full running ' || fail "status: no running job for vol"

info "dmbackup wait (stdout not a tty: plain lines)"
dmbackup wait /dev/mapper/vol --interval 2 >"$DMBT_TMP/wait.out" 2>&1
rc=$?
cat "$DMBT_TMP/wait.out"
[ $rc -eq 0 ] || fail "dmbackup wait exit code $rc, want 0 (completed)"
tail -n 1 "$DMBT_TMP/wait.out" | grep -q '^vol: full completed 100.0% 1024/1024 chunks' ||
	fail "wait: last line is not the completed job"
grep -q "$(printf '\r')" "$DMBT_TMP/wait.out" && fail "wait drew a progress bar into a pipe"
finish_live_job vol /dev/mapper/vol "$table0"
n=$NWRITTEN
sync
files_intact /mnt/vol "$n"
before_intact /mnt/vol 8 0
run umount /mnt/vol

info "the backup equals T0 and its filesystem is clean"
same "$bdisk" "$DMBT_TMP/t0"
run e2fsck -fn "$bdisk"
run e2fsck -fn /dev/mapper/vol
run dmsetup remove vol
