#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Smoke test of the harness itself, not of dm-backup: the tools and lib.sh
# helpers the real tests build on must work, and `same` must be able to fail.
# timeout: 120
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"

# The module under test was loaded by /init and registers its target.
grep -q '^dm_backup ' /proc/modules || fail "dm_backup module not loaded"
dmsetup targets | grep -q '^backup ' || fail "no 'backup' target registered"

# lib.sh routes these names past busybox's applets to the real tools.
dd --version 2>&1 | grep -q coreutils || fail "dd is not coreutils' dd"
date +%N | grep -q '^[0-9]\{9\}$' || fail "date has no %N (busybox date?)"
losetup --version 2>&1 | grep -q util-linux || fail "losetup is not util-linux'"

info "loop device, 16 MiB"
dev=$(mkloop 16) || exit 1
[ -b "$dev" ] || fail "mkloop did not give a block device: $dev"
[ "$(sectors "$dev")" -eq 32768 ] || fail "$dev has $(sectors "$dev") sectors, expected 32768"

info "fill with random data, copy, compare"
fill_random "$dev" 42
run dd if="$dev" of="$DMBT_TMP/copy" bs=1M status=none
same "$dev" "$DMBT_TMP/copy"
# The data is the seeded generator's, so it can be regenerated as an oracle.
prng 42 16M >"$DMBT_TMP/expect"
same "$dev" "$DMBT_TMP/expect"
cmp -s "$dev" /dev/zero -n 1048576 && fail "device still zero after fill_random"

info "a deliberate difference must be detected, at the right offset"
cp "$DMBT_TMP/copy" "$DMBT_TMP/bad"
# Invert one byte at offset 5000 so it differs whatever it was.
b=$(dd if="$DMBT_TMP/bad" bs=1 skip=5000 count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\$(printf %o $((255 - b)))" |
	dd of="$DMBT_TMP/bad" bs=1 seek=5000 conv=notrunc status=none
if (same "$dev" "$DMBT_TMP/bad") >"$DMBT_TMP/out" 2>&1; then
	fail "same did not detect a difference"
fi
grep -q "offset 5000 " "$DMBT_TMP/out" || fail "same reported: $(cat "$DMBT_TMP/out")"
same "$dev" "$DMBT_TMP/bad" 5000	# identical before the changed byte

info "device-mapper without udev: a linear device over the loop device"
run dmsetup create dmbt-lin --table "0 $(sectors "$dev") linear $dev 0"
[ -b /dev/mapper/dmbt-lin ] || fail "/dev/mapper/dmbt-lin missing"
prng 7 1M | dd of=/dev/mapper/dmbt-lin bs=4k seek=100 oflag=direct status=none ||
	fail "write through dm-linear failed"
prng 7 1M >"$DMBT_TMP/piece"
dd if="$dev" of="$DMBT_TMP/back" bs=4k skip=100 count=256 iflag=direct status=none
same "$DMBT_TMP/piece" "$DMBT_TMP/back"

info "brd ram disks"
set -- $(mkbrd 2 8)
[ $# -eq 2 ] || fail "mkbrd gave '$*'"
[ "$(sectors "$1")" -eq 16384 ] || fail "$1: wrong size"

# The runner removes dm devices, loop devices and brd after the test.
info "harness OK"
