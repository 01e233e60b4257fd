#!/bin/sh
# /init of the dm-backup test VM (packed by tests/mkinitramfs.sh).
#
# Runs as PID 1 under busybox sh: sets up a minimal system, loads the kernel
# modules the tests need plus dm-backup, then runs what the kernel command
# line asks for:
#   dmbt.mode=check   /selftests/run.sh with dmbt.tests=<a,b,...|all> (default)
#   dmbt.mode=demo    /selftests/demo.sh
#   dmbt.mode=bench   /selftests/bench.sh (the benchmark, tests/bench.sh)
#   dmbt.mode=reboot  /selftests/reboot.sh <phase> (tests/reboot-test.sh), the
#                     phase given as dmbt.tests=<phase>; phase 1 ends
#                     with a reset (sysrq-b), not here
#   dmbt.mode=shell   an interactive shell on the console
# and finally prints "DMBT-DONE rc=<n>" (the host's sign that the guest
# finished on its own) and powers off.  PID 1 must never exit: that panics.

export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DM_DISABLE_UDEV=1	# no udev here: dmsetup creates /dev/mapper nodes itself
export HOME=/root TERM=linux

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mapper
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
# Optional: absent or unmountable on some configs, the tests can check.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# Enabling a trace event (test_45, test_50) would also hook sched_switch to
# record task names, patching a jump label in __schedule while every CPU
# runs it; TCG has been seen to run a stale translation of such a site
# ("Oops: int3" in __schedule, 6.12).  The tests do not need the names.
echo 0 >/sys/kernel/tracing/options/record-cmd 2>/dev/null

echo "DMBT-INIT uptime=$(cut -d' ' -f1 /proc/uptime)s kernel=$(uname -r)"

echo 1 >/proc/sys/kernel/sysrq
# Report tasks stuck in D state after 60 s instead of 120 s: the runner's
# dmesg scan then catches a deadlock well within a test's timeout.
[ -w /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 60 >/proc/sys/kernel/hung_task_timeout_secs

# ---- modules ---------------------------------------------------------------
# load-order lists every packed module with dependencies first.  brd,
# null_blk and scsi_debug are left out: tests load them with the parameters
# they need (lib.sh: mkbrd).  crc32c_generic comes before libcrc32c, whose softdep on
# "crc32c" busybox modprobe does not follow.
KVER=$(uname -r)
BOOT_ERR=/tmp/dmbt-boot-errors
: >"$BOOT_ERR"
for m in $(cat /lib/modules/"$KVER"/load-order); do
	case $m in brd|null_blk|scsi_debug) continue ;; esac
	if ! out=$(modprobe "$m" 2>&1); then
		echo "modprobe $m failed: $out" >>"$BOOT_ERR"
	fi
done
grep -q '^dm_backup ' /proc/modules ||
	echo "dm-backup module is not loaded" >>"$BOOT_ERR"
if [ -s "$BOOT_ERR" ]; then
	sed 's/^/dmbt: boot error: /' "$BOOT_ERR"
fi
echo "DMBT-MODULES uptime=$(cut -d' ' -f1 /proc/uptime)s"

# ---- what to run -------------------------------------------------------------
MODE=check
TESTS=all
for w in $(cat /proc/cmdline); do
	case $w in
	dmbt.mode=*)  MODE=${w#dmbt.mode=} ;;
	dmbt.tests=*) TESTS=${w#dmbt.tests=} ;;
	# make check-long: the campaign tests run their long form (lib.sh
	# campaign()).
	dmbt.long=1)  export DMBT_LONG=1 ;;
	# Run only these tiers (run.sh, "# tier: ..."; untagged: kernel).
	dmbt.tier=*) export DMBT_TIER=${w#dmbt.tier=} ;;
	# Run only the tests of this slice (run.sh, "# slice: ...").
	dmbt.slice=*) export DMBT_SLICE=${w#dmbt.slice=} ;;
	esac
done

cd /selftests || cd /
case $MODE in
check)
	if [ "$TESTS" = all ] || [ -z "$TESTS" ]; then
		sh /selftests/run.sh </dev/null
	else
		sh /selftests/run.sh $(echo "$TESTS" | tr ',' ' ') </dev/null
	fi
	rc=$?
	;;
demo|bench|reboot)
	if [ -f /selftests/$MODE.sh ]; then
		if [ "$MODE" = reboot ]; then
			sh /selftests/reboot.sh "$TESTS" </dev/null
		else
			sh /selftests/$MODE.sh </dev/null
		fi
		rc=$?
	else
		echo "dmbt: /selftests/$MODE.sh does not exist"
		rc=127
	fi
	;;
shell)
	echo "dmbt: shell mode: 'poweroff -f' (or exit) ends the VM; Ctrl-A x kills qemu"
	# cttyhack gives the shell a real controlling tty (job control, ^C).
	setsid cttyhack sh -l
	rc=0
	;;
*)
	echo "dmbt: unknown dmbt.mode=$MODE"
	rc=2
	;;
esac

# ---- kmemleak (debug kernels only) ----------------------------------------------
# After the suite, on a kernel with kmemleak (`make check-debug`): a check
# "kmemleak", reported like a test, that fails on any leak attributed to
# dm-backup (a backtrace naming it) and on any kernel-log splat when
# dm-backup is unloaded; other leaks are listed but don't fail it (they are
# the kernel's own, e.g. from boot, not ours to fix).  Scans run with
# dm-backup loaded (so backtraces name its functions), then again after
# rmmod (objects only its module data pointed to, i.e. what its exit path
# forgot, show up only then, their frames in it as bare addresses: matched
# against the address range it was loaded at).
# Same patterns as run.sh's BAD_RE.
BAD_RE='(^|[^[:alnum:]_])(BUG|WARNING)([^[:alnum:]_]|$)|Oops|general protection|lockdep|possible circular locking|possible recursive locking|KASAN|UBSAN|hung_task|blocked for more than|soft lockup|hard LOCKUP|rcu_sched self-detected|rcu: INFO|Call Trace'
kmemleak_scan() {
	# kmemleak ignores objects younger than 5 s; scan twice, so that a
	# pointer in flight during one scan does not make a leak.
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$1"
}
kmemleak_check() {
	_kr=/tmp/dmbt-kmemleak
	mkdir -p "$_kr"
	_idx=$(cat /tmp/dmbt-run/last 2>/dev/null)	# run.sh's last test
	_idx=$((${_idx:-0} + 1))
	echo "# dmbt: start kmemleak"
	echo "dmbt: start $_idx kmemleak" >/dev/kmsg
	_t0=$(cut -d' ' -f1 /proc/uptime)
	_fail=
	# "dm_backup <size> <refs> <deps> Live 0x<base>"
	set -- $(grep '^dm_backup ' /proc/modules)
	if [ $# -ge 6 ]; then
		_lo=${6#0x}
		_hi=$(printf '%016x' $(($6 + $2)))
	else
		_lo=x _hi=x
		_fail="dm_backup not loaded"
	fi
	kmemleak_scan "$_kr/loaded"
	rmmod dm_backup >"$_kr/rmmod" 2>&1 ||
		_fail="${_fail:+$_fail; }rmmod dm_backup failed: $(cat "$_kr/rmmod")"
	kmemleak_scan "$_kr/unloaded"
	# One record per leak, from the first scan where it appeared; each
	# record marked A (attributed to dm-backup) or O (other).
	awk -v lo="$_lo" -v hi="$_hi" '
	function flush() {
		if (rec == "" || seen[obj]++) { rec = ""; return }
		print (mine ? "A" : "O") rec
		rec = ""
	}
	/^unreferenced object / { flush(); obj = $3; rec = "\n" $0; mine = 0; next }
	rec != "" {
		rec = rec "\n" $0
		if ($0 ~ /dm_backup|dm-backup/) mine = 1
		# "[<hashed>] 0xffffffffc0401234": a frame in unloaded code.
		if (match($0, /\] 0x[0-9a-f]+/)) {
			a = substr($0, RSTART + 4, RLENGTH - 4)
			if (length(a) == 16 && a >= lo && a < hi) mine = 1
		}
	}
	END { flush() }' "$_kr/loaded" "$_kr/unloaded" >"$_kr/leaks"
	_mine=$(grep -c '^A$' "$_kr/leaks")
	_other=$(grep -c '^O$' "$_kr/leaks")
	if [ "$_mine" -gt 0 ]; then
		_fail="${_fail:+$_fail; }$_mine leak(s) attributed to dm-backup"
		echo "# kmemleak: leaks attributed to dm-backup:"
		awk '/^[AO]$/ { p = ($0 == "A"); next } p' "$_kr/leaks" | sed 's/^/# /'
	fi
	if [ "$_other" -gt 0 ]; then
		echo "# kmemleak: $_other other leak(s), not attributed to dm-backup (not a failure):"
		awk '/^[AO]$/ { p = ($0 == "O"); next } p' "$_kr/leaks" | head -n 150 | sed 's/^/# /'
	fi
	dmesg | sed -n "/dmbt: start $_idx kmemleak\$/,\$p" >"$_kr/dmesg"
	if grep -Eq "$BAD_RE" "$_kr/dmesg"; then
		awk -v re="$BAD_RE" '$0 ~ re { n = 26 } n > 0 { print; n-- }' "$_kr/dmesg" |
			sed 's/^/# dmesg: /'
		_fail="${_fail:+$_fail; }kernel log reports a bug"
	fi
	echo "# duration: $(awk -v a="$_t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')s"
	if [ -n "$_fail" ]; then
		echo "not ok $_idx kmemleak # $_fail"
		return 1
	fi
	echo "ok $_idx kmemleak"
}
if [ "$MODE" = check ] && [ -e /sys/kernel/debug/kmemleak ]; then
	kmemleak_check || { [ "$rc" != 0 ] || rc=1; }
fi

echo "DMBT-DONE rc=$rc"
sync
poweroff -f
# Should not get here; if poweroff failed, ask the kernel directly.
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
