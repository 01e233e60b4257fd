#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The thin-volume recipes of dm-backup.rst and dmbackup(8) run as written
# (recipes.sh), one after the other on the thin volume tv, mounted on
# /mnt/data while an application writes files to it: rst thin-full,
# thin-increment, thin-increment-dmsetup (which remounts the file system
# through bk), then man thin-full and thin-increment.
# Oracle: each backup creates a thin snapshot at its point in time and notes
# its id in /var/lib/dmbackup/tv.snap; after each recipe /dev/sdc must equal
# that snapshot (activated read-only), and the increments must have copied
# a part of the volume only.  An empty --map (a failed losetup) or a --map
# without a value is one line of error, not the whole usage.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

mkthin 8 160 64
recipe_node /dev/meta "$THIN_META"
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/sdc "$bdisk"
fill_random /dev/sdc 831
mkdir -p /mnt/data /var/tmp
rm -rf /var/lib/dmbackup
trap 'umount -l /mnt/data 2>/dev/null' EXIT
recipe_mkfs /dev/mapper/tv
run mount -t ext4 /dev/mapper/tv /mnt/data
len=$(sectors /dev/mapper/tv)

mount() {
	command mount "$@" || return
	app_start
}
umount() {
	app_stop
	command umount "$@"
}

# backup_is_snapshot <what>: /dev/sdc equals the snapshot noted last.
backup_is_snapshot() {
	_bi_snap=$(cat /var/lib/dmbackup/tv.snap) || fail "$1 noted no snapshot"
	run dmsetup create snapchk --readonly --table "0 $len thin /dev/mapper/pool $_bi_snap"
	same /dev/sdc /dev/mapper/snapchk
	run dmsetup remove snapchk
	info "$1: /dev/sdc is snapshot $_bi_snap, the volume at its point in time"
}

# one <doc> <recipe>: run it while the application writes.
one() {
	app_start
	recipe_run "$1" "$2"
	app_stop
	backup_is_snapshot "$1 $2"
}

one rst thin-full
one rst thin-increment
cp delta.xml "$DMBT_TMP/delta1.xml"
grep -q '<different\|<right_only' delta.xml || fail "the increment mapped nothing"
one rst thin-increment-dmsetup
# /dev/sdc holds the last chain's backup: a new chain's full backup there
# is refused (--force would take it); the man page's chain starts on a
# blank disk, as a first one does.
expect_refusal "holds data (ext4 file system" dmbackup start tv /dev/sdc
fill_random /dev/sdc 832
one man thin-full
one man thin-increment
dmsetup message pool 0 "delete $(cat /var/lib/dmbackup/tv.snap)"
unset -f mount umount
run umount /mnt/data
run e2fsck -fn /dev/sdc

info "a failed losetup leaves --map empty: one line says so, not the usage"
for args in "--map ''" "--map"; do
	eval "dmbackup start tv /dev/sdc --mode top $args" >"$DMBT_TMP/out" 2>&1
	rc=$?
	cat "$DMBT_TMP/out"
	[ $rc -eq 2 ] || fail "start $args: exit code $rc, want 2"
	[ "$(wc -l <"$DMBT_TMP/out")" -eq 1 ] || fail "start $args: more than one line"
done
grep -q "did losetup fail" "$DMBT_TMP/out" ||
	eval "dmbackup start tv /dev/sdc --mode top --map ''" 2>&1 | grep -q "did losetup fail" ||
	fail "an empty --map does not hint at losetup"
