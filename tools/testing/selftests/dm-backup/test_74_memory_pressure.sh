#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Memory pressure: a tmpfs file eats the guest's memory until about 96 MiB
# are left (no swap; a KASAN kernel's quarantine gets room on top), then 24
# writers hit uncopied chunks at once with large writes (32 KiB..1 MiB,
# mostly O_DIRECT) while the walk runs.  The copies in flight are bounded
# (16 MiB per device) with a mempool reserve: no OOM kill, no hang, the
# result exact (backup == T0, origin == expected).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

size=64
o=$(mkloop $size) || exit 1
b=$(mkloop $size) || exit 1
fill_random "$o" 74
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

avail() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }
slab() { awk '/^SUnreclaim:/ { print int($2 / 1024) }' /proc/meminfo; }
# 96 MiB for the writers, the copies and the kernel; a KASAN kernel's
# quarantine fills with the freed bios and copies of this very load and
# takes its share (up to 1/32 of RAM, ~80 MiB) out of that: leave it too.
quarantine=$(kasan_quarantine_mib)
leave=$((96 + quarantine))
# A PREEMPT_RT kernel runs interrupts and softirqs in threads and spawns
# more of them under this load: it needs more room of its own (with 96 MiB
# its kthreadd met the OOM killer while dm-backup's slab stayed at 12 MiB).
[ "$(cat /sys/kernel/realtime 2>/dev/null)" = 1 ] && leave=$((leave + 64))
hog=$(( $(avail) - leave ))
[ "$hog" -gt 0 ] || fail "only $(avail) MiB available"
info "available $(avail) MiB (unreclaimable slab $(slab) MiB," \
     "KASAN quarantine up to $quarantine MiB): eating $hog MiB in a tmpfs file"
mkdir -p /tmp/dmbt-hog
mount -t tmpfs -o size=$((hog + 16))m tmpfs /tmp/dmbt-hog || fail "tmpfs mount failed"
dd if=/dev/zero of=/tmp/dmbt-hog/fill bs=1M count="$hog" status=none 2>/dev/null
info "available now: $(avail) MiB"

bk_create bk "$o" "$b" full 2 speed 8388608
info "24 writers, large writes to uncopied chunks"
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 74 720 24 32768 1048576 80 0 0
rc=$?
info "status: $(backup_status bk); available $(avail) MiB, unreclaimable slab $(slab) MiB"
rm -f /tmp/dmbt-hog/fill
umount /tmp/dmbt-hog
[ $rc -eq 0 ] || fail "bkp-io failed (rc=$rc)"
dmesg | sed -n "/dmbt: start [0-9]* $DMBT_TEST\$/,\$p" |
	grep -Ei "out of memory|oom-kill|invoked oom-killer|page allocation failure" &&
	fail "memory allocation failures in the kernel log"
[ "$(bk_cbw bk)" -gt 0 ] || fail "no copy-before-write happened"
run dmsetup message bk 0 speed 0
wait_state bk completed 180
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
