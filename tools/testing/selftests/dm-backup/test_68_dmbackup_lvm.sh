#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup backs up a mounted ext4 filesystem on a real LVM logical volume
# (lvm2: PV, VG and LV on a loop device) while files are written to it, and
# gives the LV back to LVM as it was.
# Oracle: as test_60, the filesystem is frozen around `dmbackup start`, so
# the T0 image read then is what the backup must equal bit for bit; e2fsck
# finds the backup clean.  After finish the LV has its original table and
# dm UUID, lvs reports it healthy (during the job lvs sees a table that is
# not LVM's), and lvchange -an / -ay still work on it, with the data kept.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/lvm.sh"

pv=$(mkloop 64) || exit 1
bdisk=$(mkloop 48) || exit 1
fill_random "$bdisk" 681		# the backup device starts as garbage
mklv dmbtvg lv "$pv" 48
lv=/dev/dmbtvg/lv
vol=dmbtvg-lv
lv_healthy dmbtvg lv
table0=$(table_of $vol)
uuid0=$(dmsetup info -c --noheadings -o uuid $vol)
info "LVM's table: $table0 (uuid $uuid0)"
case $uuid0 in LVM-*) ;; *) fail "$vol has no LVM uuid: '$uuid0'" ;; esac

trap 'fs_release /mnt/lv' EXIT
mkfs_mount "$lv" /mnt/lv 6 680

WRITER_MAX=40 writer_start /mnt/lv "$DMBT_TMP/stop"
sleep 1

info "freeze, take T0, start the job on $lv, thaw"
frozen_start /mnt/lv "$lv" "$bdisk" --speed 6M

dmsetup table
set -- $(table_of $vol)
[ "$3" = backup ] || fail "no backup table on $vol: $(table_of $vol)"
[ "$(table_of $vol-dmbackup-origin)" = "$table0" ] ||
	fail "hidden device table '$(table_of $vol-dmbackup-origin)' != '$table0'"
[ "$(dmsetup info -c --noheadings -o uuid $vol)" = "$uuid0" ] ||
	fail "the LV's dm uuid changed"
dmbackup status "$lv" | grep -q "^$vol: full running " || fail "status: no running job"
# lvm reads the LV and notices that its table is not the one its metadata
# describes: that is expected while the job runs (documented).
attr=$(lv_attr dmbtvg lv)
info "lvs during the job: attr $attr; $(tr '\n' ' ' <"$DMBT_TMP/lvs.err")"

run dmbackup wait "$lv" --interval 5
finish_live_job $vol "$lv" "$table0"
n=$NWRITTEN
[ "$(dmsetup info -c --noheadings -o uuid $vol)" = "$uuid0" ] ||
	fail "the LV's dm uuid changed"
lv_healthy dmbtvg lv
sync
files_intact /mnt/lv "$n"
before_intact /mnt/lv 6 680
run umount /mnt/lv

info "the backup equals T0 and its filesystem is clean"
same "$bdisk" "$DMBT_TMP/t0"
run e2fsck -fn "$bdisk"
run e2fsck -fn "$lv"

info "LVM still manages the LV: deactivate, activate, same table and data"
save_image "$lv" "$DMBT_TMP/final"
run lvm lvchange -an dmbtvg/lv
! dmsetup info $vol >/dev/null 2>&1 || fail "$vol still exists after lvchange -an"
run lvm lvchange -ay dmbtvg/lv
[ "$(table_of $vol)" = "$table0" ] || fail "table after lvchange -ay: $(table_of $vol)"
lv_healthy dmbtvg lv
same "$lv" "$DMBT_TMP/final"
run lvm vgchange -q -an dmbtvg
