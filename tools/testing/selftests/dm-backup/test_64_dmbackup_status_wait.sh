#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup status lists every job (mode, state, progress, copied/total,
# rate, ETA, errors); dmbackup wait sleeps on dm events (no CPU burnt while
# the job runs, wakes at once when it ends), prints plain lines into a pipe
# and a progress bar on a terminal (a pty from util-linux `script`).
# tier: user
# timeout: 240
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

o1=$(mkloop 16) || exit 1
o2=$(mkloop 16) || exit 1
b1=$(mkloop 16) || exit 1
b2=$(mkloop 16) || exit 1
fill_random "$o1" 641
fill_random "$o2" 642
save_image "$o2" "$DMBT_TMP/t0"
mkvol v1 "$o1"
mkvol v2 "$o2"

out=$(dmbackup status) || fail "status failed"
[ "$out" = "no backup jobs" ] || fail "status without jobs: $out"
expect_refusal "no backup job runs on this volume" dmbackup status v1

run dmbackup start v1 "$b1" --speed 1M
run dmbackup start /dev/mapper/v2 "$b2" --speed 1M
out=$(dmbackup status) || fail "status failed"
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 2 ] || fail "status: want a line per job"
for v in v1 v2; do
	re="^$v: full running [0-9.]+% [0-9]+/256 chunks \(.* MiB/16.0 MiB\)"
	re="$re rate [0-9.]+ (KiB|MiB)/s ETA 0:00:[0-9][0-9] speed 1.0 MiB/s"
	re="$re cbw 0 zero [0-9]+ errors 0 job [0-9a-f-]{36} volatile$"
	echo "$out" | grep -Eq "$re" ||
		fail "status line of $v"
done
out=$(dmbackup status --interval 0 v1) || fail "status v1 failed"
echo "$out"
echo "$out" | grep -Eq "^v1: full running .* speed 1.0 MiB/s" || fail "status v1"
echo "$out" | grep -q rate && fail "--interval 0 still measured a rate"

info "a volume by /dev/dm-N and by a /dev/VG/LV-style link"
dmn=/dev/dm-$(dmsetup info -c --noheadings -o minor v1 | tr -d ' ')
mkdir -p /dev/vgtest
ln -sf ../mapper/v1 /dev/vgtest/lv1
for p in "$dmn" /dev/vgtest/lv1; do
	dmbackup status --interval 0 "$p" | grep -q "^v1: full running" ||
		fail "status $p does not name v1"
done
rm -rf /dev/vgtest

info "wait sleeps on events: alive, no CPU, wakes at once on cancel"
dmbackup wait --interval 0 v1 >"$DMBT_TMP/w1" 2>&1 &
w=$!
# cpu_ticks <pid>: utime + stime in clock ticks (/proc/<pid>/stat).
cpu_ticks() {
	set -- $(cut -d')' -f2 "/proc/$1/stat")
	echo $((${12} + ${13}))
}
sleep 1
c0=$(cpu_ticks $w) || fail "wait exited early: $(cat "$DMBT_TMP/w1")"
sleep 3
kill -0 $w 2>/dev/null || fail "wait returned while the job runs"
ticks=$(($(cpu_ticks $w) - c0))
info "wait used $ticks clock ticks of CPU in 3 s"
[ "$ticks" -le 5 ] || fail "wait is busy polling ($ticks ticks)"
run dmbackup cancel v1
wait_until 3 'wait did not wake within 3 s of the cancel' proc_gone $w
wait $w
rc=$?
cat "$DMBT_TMP/w1"
[ $rc -eq 4 ] || fail "wait after cancel: exit code $rc, want 4"
[ "$(wc -l <"$DMBT_TMP/w1")" -eq 2 ] || fail "want a start and an end line"
tail -n 1 "$DMBT_TMP/w1" | grep -q "^v1: full cancelled " || fail "no cancelled line"

if [ -x /usr/bin/script ]; then
	info "wait on a terminal: a progress bar"
	(sleep 3; dmbackup speed v2 0 >/dev/null) &
	/usr/bin/script -qec "dmbackup wait v2" /dev/null >"$DMBT_TMP/pty" 2>&1 ||
		fail "wait in a pty failed (rc $?): $(cat "$DMBT_TMP/pty")"
	tr '\r' '\n' <"$DMBT_TMP/pty" | grep -v '^$' | head -n 8
	grep -q "$(printf '\r')v2 \[#*-*\] *[0-9.]*% .*/s ETA .* running" "$DMBT_TMP/pty" ||
		fail "no progress bar on the terminal"
	tr '\r' '\n' <"$DMBT_TMP/pty" | grep -q "v2: full completed 100.0% 256/256 chunks" ||
		fail "no final line on the terminal"
else
	# util-linux script is optional in the initramfs (tests/mkinitramfs.sh).
	info "no /usr/bin/script: the terminal progress bar is not checked"
	run dmbackup wait v2
fi
run dmbackup finish v1
run dmbackup finish v2
same "$b2" "$DMBT_TMP/t0"
[ "$(dmbackup status)" = "no backup jobs" ] || fail "jobs left"
