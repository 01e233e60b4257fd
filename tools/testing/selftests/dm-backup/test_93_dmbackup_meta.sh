#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Persistent jobs from the CLI: `dmbackup info` reads a metadata device
# offline, `dmbackup start --meta` starts a job on one or continues the job
# it holds.
# First without the kernel's persistent jobs: info on a blank device (exit
# 2, "no dm-backup job"), on corrupt metadata (bad crc, unknown version, a
# bitmap out of range, a truncated image: exit 2 saying what is wrong), on
# superblocks dmbt-meta writes (the valid one with the higher seq wins;
# exit 0 only for a completed job); the refusals of start --meta (an ended
# job without --force, a file system or corrupt metadata on the metadata
# device, one too small, one that is the backup device, the volume or the
# origin, a running job of another geometry) and of a backup device that
# holds dm-backup metadata; each leaves the volume, the metadata and the
# backup device as they were.  --force over an ended job wipes both
# superblocks (step wipe-meta, before the table is loaded: a failure
# injected right after it leaves the volume as it was and no job).
# Then with them (table argument meta): start --meta on the mounted ext4
# while it is written, throttled; the job is abandoned halfway (finish
# --force, the file system frozen until the job is back) and start --meta
# continues it: same job, the backup device's partial image is not refused.
# Then it completes, info says so (exit 0), and --force wipes the completed
# job for a new one.  Oracle: the backup equals the image taken while the
# file system was frozen around the first start (its point in time), and
# is a clean file system.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
meta=$(mkloop 1) || exit 1
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 4 930
table0=$(table_of vol)
# The job uuid dmbt-meta writes.
fake=a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf

# expect_info <rc> <pattern> <dev>: dmbackup info exits rc and says pattern.
expect_info() {
	_ei_out=$(dmbackup info "$3" 2>&1)
	_ei_rc=$?
	echo "  dmbackup info $3 -> rc $_ei_rc:"
	echo "$_ei_out" | sed 's/^/    /'
	[ "$_ei_rc" -eq "$1" ] || fail "dmbackup info $3: exit code $_ei_rc, want $1"
	echo "$_ei_out" | grep -q -- "$2" || fail "dmbackup info $3: no '$2' in: $_ei_out"
}

# meta_fresh: zero the metadata device.
meta_fresh() {
	dd if=/dev/zero of="$meta" bs=1M count=1 oflag=direct status=none ||
		fail "cannot zero $meta"
}

# refused_meta <pattern> <start options...>: start is refused saying
# pattern; the volume and the metadata device are unchanged.  The backup
# device (64 MiB, slow to checksum under TCG) is checked once after a series
# of refusals: bk_unchanged.
refused_meta() {
	_rm_pat=$1
	shift
	_rm_meta=$(md5sum <"$meta")
	expect_refusal "$_rm_pat" dmbackup start /dev/mapper/vol "$bdisk" "$@"
	[ "$(md5sum <"$meta")" = "$_rm_meta" ] || fail "the refused metadata device changed"
	vol_untouched vol "$table0"
}

# bk_sum / bk_unchanged: no refusal since bk_sum wrote the backup device.
bk_sum() {
	bk_md5=$(md5sum <"$bdisk")
}
bk_unchanged() {
	[ "$(md5sum <"$bdisk")" = "$bk_md5" ] || fail "a refused start wrote the backup device"
}

info "info: a blank device holds no job"
expect_info 2 "no dm-backup job on $meta" "$meta"

info "info: superblocks as the kernel writes them"
run dmbt-meta "$meta" state=2 seq=7
expect_info 0 "state: *completed" "$meta"
expect_info 0 "dm-backup job $fake" "$meta"
expect_info 0 "progress: *1024/1024 chunks" "$meta"
expect_info 0 "point in time: *2026-11-18T11:06:40.000000123Z (1795000000000000123 ns)" "$meta"
expect_info 0 "seq 7 (block 0)" "$meta"
# The other superblock, a later commit: it wins.
run dmbt-meta "$meta" sb=1 seq=8 state=3 copied=300 last_error=-5
expect_info 1 "state: *failed" "$meta"
expect_info 1 "last error: *EIO (-5)" "$meta"
expect_info 1 "progress: *300/1024 chunks" "$meta"
expect_info 1 "seq 8 (block 1)" "$meta"
# A torn write of the later one: the earlier one is the state.
run dmbt-meta "$meta" sb=1 seq=9 state=0 crc=0
expect_info 0 "seq 7 (block 0)" "$meta"
# top: the chunks the map left out are set in the bitmap, not progress.
run dmbt-meta "$meta" seq=10 state=1 mode=1 copied=600 unmapped=500
expect_info 1 "progress: *100/524 chunks" "$meta"
expect_info 1 "state: *paused" "$meta"

info "info: corrupt metadata says what is wrong (exit 2)"
meta_fresh
run dmbt-meta "$meta" crc=0
run dmbt-meta "$meta" sb=1 version=7
expect_info 2 "block 0: bad crc" "$meta"
expect_info 2 "block 1: unknown version 7" "$meta"
meta_fresh
run dmbt-meta "$meta" magic=0
expect_info 2 "block 0: bad magic; block 1: all zeroes" "$meta"
meta_fresh
run dmbt-meta "$meta" bm_first=300 bm_write=0
expect_info 2 "bitmap 0 out of range" "$meta"
truncate -s 6000 "$DMBT_TMP/short.img" || fail "truncate failed"
expect_info 2 "truncated: 6000 bytes" "$DMBT_TMP/short.img"
truncate -s 8192 "$DMBT_TMP/cut.img" || fail "truncate failed"
run dmbt-meta "$DMBT_TMP/cut.img" bm_write=0
expect_info 2 "out of range: blocks 2+1, the device has 2 blocks" "$DMBT_TMP/cut.img"
expect_info 2 "/nonexistent: No such file" /nonexistent
_ni_out=$(dmbackup info 2>&1)
[ $? -eq 2 ] || fail "dmbackup info without a device: exit code not 2: $_ni_out"

info "start --meta: the refusals"
fill_random "$bdisk" 931
bk_sum
meta_fresh
run dmbt-meta "$meta" state=2
refused_meta "holds job $fake, which has ended (state completed" --meta "$meta"
run dmbt-meta "$meta" state=4
refused_meta "use --force to wipe it" --meta "$meta"
meta_fresh
run dmbt-meta "$meta" crc=0
refused_meta "holds corrupt dm-backup metadata (no valid superblock: block 0: bad crc" \
	--meta "$meta"
meta_fresh
run mke2fs -q -t ext4 -F "$meta"
refused_meta "metadata device $meta holds data (ext4 file system" --meta "$meta"
meta_fresh
# A running job of another volume (or start): the kernel would refuse it.
run dmbt-meta "$meta" state=0 origin=65536
refused_meta "holds job $fake (running) of another volume" --meta "$meta"
run dmbt-meta "$meta" state=1 chunk=256
refused_meta "holds job $fake (paused) of another volume" --meta "$meta"
meta_fresh
refused_meta "metadata device $bdisk is the backup device" --meta "$bdisk"
refused_meta "metadata device /dev/mapper/vol is the volume itself" --meta /dev/mapper/vol
refused_meta "metadata device $disk is the origin" --meta "$disk"
truncate -s 12K /tmp/dmbt-loop.tinymeta || fail "truncate failed"
tiny=$(losetup --show -f /tmp/dmbt-loop.tinymeta) || fail "losetup failed"
rm -f /tmp/dmbt-loop.tinymeta
refused_meta "is too small: 12288 bytes; a job of 1024 chunks needs at least 16384 bytes" \
	--meta "$tiny"
# 8-sector chunks: 16384 chunks still take one bitmap block each.
refused_meta "a job of 16384 chunks needs at least 16384 bytes" --meta "$tiny" --chunk-size 8
run losetup -d "$tiny"
bk_unchanged

info "start --meta --force wipes an ended job first (create fails on purpose here)"
run dmbt-meta "$meta" state=3 last_error=-5
expect_injected wipe-meta start /dev/mapper/vol "$bdisk" --meta "$meta" --force
vol_untouched vol "$table0"
expect_info 1 "state: *failed" "$meta"
expect_injected create start /dev/mapper/vol "$bdisk" --meta "$meta" --force
wiped="^$meta: wiped its superblocks (8 KiB at offset 0), which held job"
grep -q "$wiped $fake (failed) (--force)" "$DMBT_TMP/out" ||
	fail "start --force did not say what it wiped"
vol_untouched vol "$table0"
expect_info 2 "no dm-backup job on $meta" "$meta"
bk_unchanged

info "start: a backup device holding dm-backup metadata is refused"
run dmbt-meta "$bdisk" state=0
bk_sum
refused_meta "backup device $bdisk holds dm-backup metadata (job $fake)"
bk_unchanged
# In the second block too (the superblock written after the first).
fill_random "$bdisk" 932
run dmbt-meta "$bdisk" sb=1 state=2
bk_sum
refused_meta "holds dm-backup metadata (job $fake)"
bk_unchanged
fill_random "$bdisk" 933

# ---- from here on, the kernel's persistent jobs (table argument meta) ----
info "start --meta on the mounted volume while it is written (kernel: persistent jobs)"
meta_fresh
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --meta "$meta" --speed 1M
dmbackup status /dev/mapper/vol --interval 0 >"$DMBT_TMP/status" 2>&1
cat "$DMBT_TMP/status"
uuid=$(sed -n 's/.* job \([0-9a-f-]\{36\}\) persistent.*/\1/p' "$DMBT_TMP/status")
[ -n "$uuid" ] || fail "dmbackup status names no persistent job"
grep -q "job $uuid, persistent on $meta" "$DMBT_TMP/start.out" ||
	fail "start does not name the job"
writer_start /mnt/vol "$DMBT_TMP/stop"
wait_copied vol 64 120
writer_stop "$DMBT_TMP/stop"
info "$NWRITTEN files written during the job; cbw $(bk_cbw vol)"

info "the job is abandoned halfway, the file system frozen until it is back"
run fsfreeze --freeze /mnt/vol
run dmbackup finish --force /dev/mapper/vol
vol_untouched vol "$table0"
expect_info 1 "dm-backup job $uuid" "$meta"
state=$(dmbackup info "$meta" | sed -n 's/.*state: *//p')
case $state in
running|paused) ;;
*) fail "the abandoned job's state on the metadata device is '$state', want running or paused" ;;
esac
copied=$(dmbackup info "$meta" | sed -n 's/.*progress: *\([0-9]*\)\/.*/\1/p')
info "copied before the interruption: $copied chunks"
[ "${copied:-0}" -gt 0 ] && [ "$copied" -lt 1024 ] ||
	fail "progress on the metadata device: '$copied', want 1..1023"

info "start --meta continues the job (the partial backup is not refused)"
dmbackup start /dev/mapper/vol "$bdisk" --meta "$meta" >"$DMBT_TMP/start.out" 2>&1
rc=$?
fsfreeze --unfreeze /mnt/vol
cat "$DMBT_TMP/start.out"
[ $rc -eq 0 ] || fail "dmbackup start --meta (continue) failed (rc $rc)"
grep -q "^continuing job $uuid (point in time 20[0-9-]*T[0-9:.]*Z, $copied/1024 chunks)" \
	"$DMBT_TMP/start.out" || fail "start did not say that it continues job $uuid"
dmbackup status /dev/mapper/vol --interval 0 | grep -q "job $uuid persistent" ||
	fail "the continued job is not $uuid"
dmbt-prng 934 1M >/mnt/vol/after-continue || fail "cannot write after-continue"
sync
dmbackup wait /dev/mapper/vol --interval 1 || fail "dmbackup wait: exit code $?"
run dmbackup finish /dev/mapper/vol
vol_untouched vol "$table0"
expect_info 0 "state: *completed" "$meta"
expect_info 0 "progress: *1024/1024 chunks" "$meta"
same "$bdisk" "$DMBT_TMP/t0"
run e2fsck -fn "$bdisk"
before_intact /mnt/vol 4 930
files_intact /mnt/vol "$NWRITTEN"

info "--force wipes the completed job for a new one"
bk_sum
refused_meta "holds job $uuid, which has ended (state completed" --meta "$meta"
bk_unchanged
fill_random "$bdisk" 935
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --meta "$meta" --force --speed 1M
grep -q "$wiped $uuid (completed) (--force)" "$DMBT_TMP/start.out" ||
	fail "start --force did not say what it wiped"
dmbackup status /dev/mapper/vol --interval 0 | grep -q "job $uuid" &&
	fail "the new job has the old job's uuid"
run dmbackup cancel /dev/mapper/vol
run dmbackup finish /dev/mapper/vol
expect_info 1 "state: *cancelled" "$meta"
run umount /mnt/vol
