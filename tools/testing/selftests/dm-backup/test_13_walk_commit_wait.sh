#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A persistent job commits the walk's copies in batches, later than their
# data is written (dm-backup.rst, "Persistent jobs"): a write to a chunk
# whose walk copy is written but not committed must still wait for that
# commit, or a crash would leave the chunk's bit clear and the job would
# copy the write's data as the point in time.
#
# The metadata device answers reads but can hold every write (held_meta
# all).  The walk starts parked; its first copy commits; then the
# metadata's writes are held and the walk runs until the backup device
# holds chunk 3's point-in-time data.  A 4 KiB write to chunk 3 through
# the target must not reach the origin while the commit is held (2 s);
# once the device answers, it ends within 10 s, and the job completes.
# Oracles: the backup equals the image taken before the job started (pit),
# the origin the image of every write (expect).
# tier: kernel
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CHUNK=65536
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
m=$(mkloop 1) || exit 1
fill_random "$o" 1300
dd if="$o" of="$DMBT_TMP/pit" bs=1M status=none || fail "cannot image $o"
cp "$DMBT_TMP/pit" "$DMBT_TMP/expect" || fail "cannot copy the image"
held_meta "$m" all
# Held writes go on whatever ends the test: a device removed with bios
# held leaks them.
trap 'dmsetup resume sbgate 2>/dev/null' EXIT

# copied_some: the job counts a copied chunk (counted once committed).
copied_some() {
	[ "$(bk_copied bk)" -ge 1 ]
}

# Speed 1 byte/s: the walk copies its first chunk, then waits.
bk_create bk "$o" "$b" full 4 speed 1 meta /dev/mapper/mdev
wait_until 10 'the first walk copy is not committed: $(backup_status bk)' copied_some

run dmsetup suspend --noflush sbgate
run dmsetup message bk 0 speed 1048576
wait_until 30 'the walk did not write chunk 3: $(backup_status bk)' \
	chunk_is "$b" 3 $CHUNK "$DMBT_TMP/pit"
run dmsetup message bk 0 speed 1
[ "$(bk_copied bk)" -le 1 ] ||
	fail "a walk copy counted while its commit was held: $(backup_status bk)"

write_at /dev/mapper/bk $((3 * CHUNK)) 4096 1301 "$DMBT_TMP/expect" &
wpid=$!
sleep 2
if proc_gone $wpid; then
	dmsetup resume sbgate
	fail "a write to a walked chunk ended while its commit was held"
fi
chunk_is "$o" 3 $CHUNK "$DMBT_TMP/pit" ||
	fail "a write reached the origin before its chunk's walk copy was committed"

run dmsetup resume sbgate
wait_until 10 'the write still waits after the commit was released' proc_gone $wpid
wait $wpid || fail "the write failed"
run dmsetup message bk 0 speed 0
wait_state bk completed 120
same "$b" "$DMBT_TMP/pit"
same "$o" "$DMBT_TMP/expect"
echo "dmbt: a write to a walked chunk waited for the walk's commit"
