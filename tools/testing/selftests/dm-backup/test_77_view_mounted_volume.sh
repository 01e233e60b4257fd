#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The README's pull recipe on a mounted volume that is being written:
#   dmbackup start VOL BK --mode none; dmbackup view VOL snap; dd the view;
#   dmbackup view --remove snap; dmbackup cancel VOL && dmbackup finish VOL
# The view must not open the volume (a mounted file system holds it
# exclusively): its table names the job's origin and backup devices.
# Oracle: the file system is frozen around `dmbackup start`, so the T0
# image read then is what the view must show, bit for bit, while files are
# written; `finish` is refused while the view exists; the view's image is
# a clean file system, and the volume keeps every file written.
# timeout: 600
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
fill_random "$bdisk" 771
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 4 0
table0=$(table_of vol)
WRITER_MAX=48 writer_start /mnt/vol "$DMBT_TMP/stop"
sleep 1

info "freeze, take T0, start the job in sync mode none, thaw"
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --mode none

info "a view of the mounted volume"
run dmbackup view /dev/mapper/vol snap
dmsetup table snap
set -- $(table_of snap)
[ "$3" = backup-view ] && [ $# -eq 5 ] ||
	fail "the view does not name the job's devices: $(table_of snap)"
writer_beats "$DMBT_TMP/stop"
dd if=/dev/mapper/snap of="$DMBT_TMP/view" bs=1M iflag=direct status=none ||
	fail "reading the view failed"
writer_beats "$DMBT_TMP/stop"
same "$DMBT_TMP/view" "$DMBT_TMP/t0"
run e2fsck -fn "$DMBT_TMP/view"

info "finish is refused while the view exists"
expect_refusal "view" dmbackup finish /dev/mapper/vol
run dmbackup view --remove snap
run dmbackup cancel /dev/mapper/vol
finish_live_job vol /dev/mapper/vol "$table0"
files_intact /mnt/vol "$NWRITTEN"
before_intact /mnt/vol 4 0
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol
run dmsetup remove vol
