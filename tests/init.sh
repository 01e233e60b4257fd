#!/bin/sh
# /init of the dm-backup test VM (packed by tests/mkinitramfs.sh).
#
# Runs as PID 1 under busybox sh: sets up a minimal system, loads the kernel
# modules the tests need plus dm-backup, then runs what the kernel command
# line asks for:
#   dmbt.mode=check   /selftests/run.sh with dmbt.tests=<a,b,...|all> (default)
#   dmbt.mode=demo    /selftests/demo.sh
#   dmbt.mode=bench   /selftests/bench.sh (the benchmark, tests/bench.sh)
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

echo "DMBT-INIT uptime=$(cut -d' ' -f1 /proc/uptime)s kernel=$(uname -r)"

echo 1 >/proc/sys/kernel/sysrq
# Report tasks stuck in D state after 60 s instead of 120 s: the runner's
# dmesg scan then catches a deadlock well within a test's timeout.
[ -w /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 60 >/proc/sys/kernel/hung_task_timeout_secs

# ---- modules ---------------------------------------------------------------
# load-order lists every packed module with dependencies first.  brd and
# null_blk are left out: tests load them with the parameters they need
# (lib.sh: mkbrd).  crc32c_generic comes before libcrc32c, whose softdep on
# "crc32c" busybox modprobe does not follow.
KVER=$(uname -r)
BOOT_ERR=/tmp/dmbt-boot-errors
: >"$BOOT_ERR"
for m in $(cat /lib/modules/"$KVER"/load-order); do
	case $m in brd|null_blk) continue ;; esac
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
demo|bench)
	if [ -f /selftests/$MODE.sh ]; then
		sh /selftests/$MODE.sh </dev/null
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

echo "DMBT-DONE rc=$rc"
sync
poweroff -f
# Should not get here; if poweroff failed, ask the kernel directly.
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
