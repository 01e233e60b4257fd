#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# `lvchange --refresh` on an LV that runs a dmbackup job: LVM reloads the
# LV's table from its metadata, which replaces the backup table and ends
# the job.  What must hold (documented in dm-backup.rst):
#  - no data is lost: the mounted filesystem keeps every file written
#    before, during and after the refresh, and e2fsck finds it clean;
#  - the job ends visibly: the kernel logs "job abandoned while running",
#    a `dmbackup wait` that was waiting exits 3 (failed) instead of
#    sleeping on, and `dmbackup status` names the volume and exits 1;
#  - `dmbackup finish` then removes the left-over hidden device and LVM
#    sees a healthy LV.
# And a refresh after the job completed only does what finish would: the
# backup is complete and equals its T0 image, and no abandonment is logged.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/lvm.sh"

pv=$(mkloop 64) || exit 1
bdisk=$(mkloop 48) || exit 1
mklv dmbtvg lv "$pv" 48
lv=/dev/dmbtvg/lv
vol=dmbtvg-lv
table0=$(table_of $vol)
trap 'fs_release /mnt/lv' EXIT
mkfs_mount "$lv" /mnt/lv 4 690

info "a slow job (1 MiB/s of 48 MiB), files written meanwhile"
WRITER_MAX=32 writer_start /mnt/lv "$DMBT_TMP/stop"
run dmbackup start "$lv" "$bdisk" --speed 1M
dmbackup wait "$lv" --interval 0 >"$DMBT_TMP/wait.out" 2>&1 &
waiter=$!
writer_beats "$DMBT_TMP/stop"
sleep 2
writer_beats "$DMBT_TMP/stop"
dmbackup status "$lv" | grep -q "^$vol: full running " || fail "the job is not running"
klog0=$(dmesg | wc -l)

info "lvchange --refresh while the job runs"
run lvm lvchange --refresh dmbtvg/lv
dmsetup table
[ "$(table_of $vol)" = "$table0" ] ||
	fail "after the refresh the LV's table is '$(table_of $vol)', want LVM's '$table0'"
writer_beats "$DMBT_TMP/stop"	# the volume still takes writes

info "the job ended visibly"
dmesg | tail -n +$((klog0 + 1)) >"$DMBT_TMP/klog"
cat "$DMBT_TMP/klog"
re="backup: [0-9]*:[0-9]* ($vol): job abandoned while running at [0-9]*/768 chunks:"
re="$re table gone, backup incomplete"
grep -q "$re" \
	"$DMBT_TMP/klog" || fail "no 'job abandoned' line in the kernel log"
out=$(dmbackup status 2>&1)
rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "dmbackup status: exit code $rc, want 1"
re="^$vol: no backup job, but $vol-dmbackup-origin is left: .*lvchange --refresh"
echo "$out" | grep -q "$re" ||
	fail "dmbackup status does not report the ended job"
out=$(dmbackup status "$lv" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "dmbackup status $lv: exit code $rc, want 1"
echo "$out" | grep -q "lvchange --refresh" || fail "dmbackup status $lv does not explain"
# The waiter looks every 10 s when the table changed without an event.
wait_until 30 'dmbackup wait still waits 30 s after the refresh' proc_gone $waiter
wait $waiter
rc=$?
cat "$DMBT_TMP/wait.out"
[ $rc -eq 3 ] || fail "dmbackup wait: exit code $rc, want 3 (the job failed)"
grep -q "no backup job runs on this volume" "$DMBT_TMP/wait.out" ||
	fail "dmbackup wait did not say why it stopped"

info "no data lost"
writer_stop "$DMBT_TMP/stop"
n=$NWRITTEN
info "$n files written"
sync
files_intact /mnt/lv "$n"
before_intact /mnt/lv 4 690
run dmbackup finish "$lv"
! dmsetup info $vol-dmbackup-origin >/dev/null 2>&1 || fail "the hidden device is left"
lv_healthy dmbtvg lv
[ "$(dmbackup status)" = "no backup jobs" ] || fail "dmbackup status: $(dmbackup status 2>&1)"

info "a refresh after the job completed: the backup stays good"
# The backup device holds the interrupted backup's file system: overwrite it.
frozen_start /mnt/lv "$lv" "$bdisk" --force
dmbt-prng 699 4M >/mnt/lv/after || fail "write after start failed"
run dmbackup wait "$lv" --interval 0
klog0=$(dmesg | wc -l)
run lvm lvchange --refresh dmbtvg/lv
[ "$(table_of $vol)" = "$table0" ] || fail "table after the refresh: $(table_of $vol)"
dmesg | tail -n +$((klog0 + 1)) | grep "job abandoned" &&
	fail "a completed job was reported abandoned"
run dmbackup finish "$lv"
lv_healthy dmbtvg lv
sync
dmbt-prng 699 4M | cmp -s - /mnt/lv/after || fail "file 'after' damaged"
files_intact /mnt/lv "$n"
run umount /mnt/lv
run e2fsck -fn "$lv"
same "$bdisk" "$DMBT_TMP/t0"
run e2fsck -fn "$bdisk"
run lvm vgchange -q -an dmbtvg
