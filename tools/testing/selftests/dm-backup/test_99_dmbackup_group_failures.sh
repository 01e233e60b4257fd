#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every failure of a group start (dmbackup start A BKA B BKB) leaves every
# volume of the group exactly as it was, and what a group must not be is
# refused before anything changes.  DMBACKUP_FAIL_AT=<step>:<volume> makes
# one step of one volume fail (create, load, suspend of each, then resume
# and resume-after of each: the steps run phase by phase).
# Oracles: each volume's table, state (active, not suspended, no inactive
# table, no hidden device) and data (its md5sum taken before) equal those
# before the attempt, and the error names the volume and step; mounted and
# written to, both file systems still take writes (neither is left frozen
# or suspended), their files are intact and e2fsck is clean; one that its
# user froze (fsfreeze) is still frozen.  (--force: a job that ran for a
# moment copied a file system's superblock to BKA.)  Refused: a volume
# named twice, a volume stacked on another, a shared backup device, a
# backup device that is a volume of the group, --meta.
# tier: user
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

STEPS="create:ga create:gb load:ga load:gb suspend:ga suspend:gb
	resume:ga resume-after:ga resume:gb resume-after:gb"

da=$(mkloop 4) || exit 1
db=$(mkloop 4) || exit 1
ba=$(mkloop 4) || exit 1
bb=$(mkloop 4) || exit 1
fill_random "$da" 991
fill_random "$db" 992
mkvol ga "$da"
mkvol gb "$db"
ta=$(table_of ga)
tb=$(table_of gb)
# md5 <volume>: the md5sum of its data, read with O_DIRECT (no cache).
md5() {
	dd if="/dev/mapper/$1" bs=1M iflag=direct status=none | md5sum | cut -d' ' -f1
}
ma=$(md5 ga)
mb=$(md5 gb)

# attrs: every dm device's name and attributes (live, inactive table,
# suspended, read-only), and its table, "<name>: <table>", in $DMBT_TMP.
# Two dmsetup runs for all devices: a check of each device on its own
# (vol_untouched) takes three per device, which TCG makes slow.
attrs() {
	dmsetup info -c --noheadings -o name,attr --separator ' ' >"$DMBT_TMP/attrs" &&
		dmsetup table >"$DMBT_TMP/tables" || fail "dmsetup info/table failed"
}
attrs
aa=$(grep '^ga ' "$DMBT_TMP/attrs")
ab=$(grep '^gb ' "$DMBT_TMP/attrs")

# untouched [data]: both volumes as they were (vol_untouched of
# dmbackup.sh: table, state, no hidden device); with data, their data too.
untouched() {
	attrs
	grep -qx "ga: $ta" "$DMBT_TMP/tables" || fail "ga: table is not '$ta'"
	grep -qx "gb: $tb" "$DMBT_TMP/tables" || fail "gb: table is not '$tb'"
	grep -qx "$aa" "$DMBT_TMP/attrs" ||
		fail "ga: $(grep '^ga ' "$DMBT_TMP/attrs"), want $aa (live, not suspended)"
	grep -qx "$ab" "$DMBT_TMP/attrs" ||
		fail "gb: $(grep '^gb ' "$DMBT_TMP/attrs"), want $ab (live, not suspended)"
	! grep -q -- -dmbackup-origin "$DMBT_TMP/attrs" || fail "a hidden device is left over"
	[ ! -e /dev/mapper/ga-dmbackup-origin ] && [ ! -e /dev/mapper/gb-dmbackup-origin ] ||
		fail "a /dev/mapper node of a hidden device is left over"
	[ -z "${1:-}" ] || [ "$(md5 ga)" = "$ma" ] || fail "ga's data changed"
	[ -z "${1:-}" ] || [ "$(md5 gb)" = "$mb" ] || fail "gb's data changed"
}
vol_untouched ga "$ta"		# $aa and $ab are the state it checks
vol_untouched gb "$tb"

info "refusals, before anything changes"
expect_refusal "named twice" dmbackup start ga "$ba" /dev/mapper/ga "$bb"
expect_refusal "share backup device" dmbackup start ga "$ba" gb "$ba"
expect_refusal "a volume of the group" dmbackup start ga "$ba" gb /dev/mapper/ga
run dmsetup create gs --table "0 $(sectors /dev/mapper/gb) linear /dev/mapper/gb 0"
expect_refusal "gs is stacked on gb" dmbackup start gs "$ba" gb "$bb"
expect_refusal "gs is stacked on gb" dmbackup start gb "$ba" gs "$bb"
run dmsetup remove gs
dmbackup start ga "$ba" gb "$bb" --meta "$bb" >"$DMBT_TMP/out" 2>&1
rc=$?
cat "$DMBT_TMP/out"
[ $rc -eq 2 ] || fail "start of a group with --meta: exit code $rc, want 2"
dmbackup start ga "$ba" gb >"$DMBT_TMP/out" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "start with a volume but no backup device: exit code $rc, want 2"
untouched data

info "a group start fails at each step of each volume; both are untouched"
for step in $STEPS; do
	info "DMBACKUP_FAIL_AT=$step"
	expect_injected "$step" start ga "$ba" gb "$bb" --speed 4M --force
	grep -q "step $step failed" "$DMBT_TMP/out" || fail "the error does not name $step"
	untouched data
done

info "mounted and written to: failures during a group start"
mkdir -p /mnt/ga /mnt/gb
trap 'fs_release /mnt/ga; fs_release /mnt/gb' EXIT
# No journal: quicker to make under TCG; freezing is the VFS's all the same.
run mke2fs -q -t ext4 -O ^has_journal -E nodiscard -F /dev/mapper/gb
run mount -t ext4 /dev/mapper/gb /mnt/gb
run mke2fs -q -t ext4 -O ^has_journal -E nodiscard -F /dev/mapper/ga
run mount -t ext4 /dev/mapper/ga /mnt/ga
WRITER_MAX=4 writer_start /mnt/ga "$DMBT_TMP/stop"
i=0
# A suspended (its file system frozen) when B fails; both resumed with
# their jobs when the last step fails.
for step in suspend:gb resume-after:gb; do
	i=$((i + 1))
	expect_injected "$step" start ga "$ba" gb "$bb" --speed 4M --force
	untouched
	writer_beats "$DMBT_TMP/stop"	# A is not left suspended or frozen
	# Nor is B: a frozen file system holds the write, a suspended volume
	# the fsync.
	timeout 10 /usr/bin/dd if=/dev/zero of=/mnt/gb/probe bs=4k count=1 \
		conv=fsync status=none || fail "$step: B does not take a write"
	dmbt-prng $((9900 + i)) 64K >/mnt/gb/f-$i
done

info "B's file system frozen by its user: a failed group start leaves it frozen"
run fsfreeze --freeze /mnt/gb
expect_injected resume-after:gb start ga "$ba" gb "$bb" --speed 4M --force
untouched
dd if=/dev/zero of=/mnt/gb/probe bs=4k count=1 conv=fsync status=none &
probe=$!
sleep 1
[ -e /proc/$probe/stat ] && ! grep -q ') Z ' /proc/$probe/stat ||
	fail "B's file system was thawed: it took a write"
run fsfreeze --unfreeze /mnt/gb
wait $probe || fail "the write to B failed after the thaw"
writer_stop "$DMBT_TMP/stop"
untouched
files_intact /mnt/ga "$NWRITTEN"
while [ $i -gt 0 ]; do
	dmbt-prng $((9900 + i)) 64K | cmp -s - /mnt/gb/f-$i || fail "/mnt/gb/f-$i is damaged"
	i=$((i - 1))
done
run umount /mnt/ga
run umount /mnt/gb
run e2fsck -fn /dev/mapper/ga
run e2fsck -fn /dev/mapper/gb
