#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# KTAP runner for the dm-backup selftests.  Runs inside the test VM (busybox
# sh), started by /init; can also be run by hand there:
#     sh /selftests/run.sh [test_name ...]       (default: every test_*.sh)
#
# For each test: a marker in the kernel log, the test in its own session
# under a timeout (default 300 s; a "# timeout: N" line in the test file
# overrides it), its output prefixed "# ", cleanup (dm, loop, brd, null_blk),
# then a scan of the kernel log since the marker for BUG/WARNING/lockdep/...
# which fails the test even if the script passed.  Exit code 4 means skip:
# reported "ok N name # SKIP reason"; the host counts it as a failure.
#
# Output lines the host (tests/run-vm.sh) relies on:
#   "# dmbt: tests: a b c"   the plan by name (to name tests a crash kept
#                            from running)
#   "# dmbt: start NAME"     printed before NAME runs (to blame a crash)
#   KTAP "ok"/"not ok" lines.
#
# One test started on its own (kselftest's runner runs each test_*.sh as a
# program, or a test run by hand): lib.sh hands it over to
#     run.sh --one test_name.sh
# which runs that test alone under this same harness (timeout, cleanup,
# kernel log scan) and exits like a kselftest: 0 pass, 4 skip, 1 fail.  It
# loads dm-backup first (skip if that fails) and leaves the boot check out:
# the kernel log before the test is not the suite's.

ONE=
if [ "${1:-}" = --one ]; then
	ONE=1
	shift
	[ $# -eq 1 ] || { echo "usage: $0 --one test_name.sh" >&2; exit 2; }
fi
DMBT_DIR=$(cd "$(dirname "$0")" && pwd)
DMBT_RUNNER=1		# lib.sh: tests run under this harness, don't hand over
export DMBT_DIR DMBT_RUNNER
. "$DMBT_DIR/lib.sh"

if [ -n "$ONE" ] && ! grep -qs '^dm_backup ' /proc/modules &&
   ! modprobe dm-backup 2>/dev/null; then
	# Nothing touched yet: no cleanup runs on a machine without the module.
	echo "KTAP version 1"
	echo "1..1"
	echo "ok 1 ${1%.sh} # SKIP dm-backup module not available (CONFIG_DM_BACKUP=m)"
	exit 4
fi

DEFAULT_TIMEOUT=${DMBT_TIMEOUT:-300}
RUNDIR=/tmp/dmbt-run		# runner state, survives the test's cleanup
SCRATCH=/tmp/dmbt-test		# the test's DMBT_TMP, recreated per test
mkdir -p "$RUNDIR"

# Kernel log lines that mean a kernel bug.  BUG/WARNING must be words, so
# e.g. "DEBUG" or a driver's "warning:" don't count.
BAD_RE='(^|[^[:alnum:]_])(BUG|WARNING)([^[:alnum:]_]|$)|Oops|general protection|lockdep'
BAD_RE="$BAD_RE|possible circular locking|possible recursive locking|KASAN|UBSAN|hung_task"
BAD_RE="$BAD_RE|blocked for more than|soft lockup|hard LOCKUP|rcu_sched self-detected"
BAD_RE="$BAD_RE|rcu: INFO|Call Trace"
# Lines that match BAD_RE but report no bug: the boot banner of a kernel with
# lockdep (make check-debug).
OK_RE='RCU lockdep checking is enabled'

# prefix: indent a stream as KTAP diagnostics.
prefix() {
	sed "s/^/# $1/"
}

# bad_lines <file>: print matching lines with the 25 lines after each (the
# backtrace).
bad_lines() {
	awk -v re="$BAD_RE" -v ok="$OK_RE" \
		'$0 ~ re && $0 !~ ok { n = 26 } n > 0 { print; n-- }' "$1"
}

# kill_session <sid>: kill whatever the test left running (background jobs).
kill_session() {
	[ -n "$1" ] || return 0
	_sid=$1
	for _p in /proc/[0-9]*; do
		_pid=${_p#/proc/}
		# read, not $(cat): no fork per process (under TCG a fork costs
		# milliseconds, and the VM has a hundred kernel threads).
		{ read -r _st <"$_p/stat"; } 2>/dev/null || continue
		_st=${_st##*) }		# drop "pid (comm) ", comm may hold spaces
		set -- $_st		# state ppid pgrp session ...
		[ "$4" = "$_sid" ] && kill -9 "$_pid" 2>/dev/null
	done
}

# ---- the plan ----------------------------------------------------------------
# A test that needs what only some kernels have says so in a line
# "# requires: <path>" (e.g. a fault injection knob in debugfs): the full
# run leaves it out on other kernels and says so; named explicitly, it runs
# and its own check skips it, which counts as a failure.
not_planned() {
	_req=$(sed -n 's/^# requires: *//p' "$DMBT_DIR/$1")
	[ -n "$_req" ] && [ ! -e "$_req" ] && echo "needs $_req" && return
	# "# tier: user": the CLI and the documents' recipes, user space over
	# the same kernel paths as the other tests.  "# tier: crash": the
	# campaigns of power cuts and corrupted metadata, whose subject is
	# what lands on the devices, which the kernel's flavour does not
	# change.  dmbt.tier=<tier,...> (DMBT_TIER) runs only the tiers it
	# lists, an untagged test being "kernel": make check KVER=all, for
	# CI's time, runs every tier on 6.1, kernel and crash on 6.12.
	_tier=$(sed -n 's/^# tier: *//p' "$DMBT_DIR/$1")
	if [ -n "${DMBT_TIER:-}" ]; then
		case ",$DMBT_TIER," in
		*,"${_tier:-kernel}",*) ;;
		*) echo "tier: ${_tier:-kernel}, left out of a run of tiers $DMBT_TIER"
		   return ;;
		esac
	fi
	# "# slice: <name> ...": the test belongs to these short selections.
	# dmbt.slice=<name> (DMBT_SLICE) runs only the tests of that slice:
	# make check KVER=all runs slice "rt" on the PREEMPT_RT kernel, the
	# tests whose paths take the module's locks, timers and completions
	# in every context (the map path under load, stalls, cancels,
	# reloads, removes, views, persistent and tracking jobs); the RT
	# kernel named on its own runs everything.
	if [ -n "${DMBT_SLICE:-}" ]; then
		_slices=$(sed -n 's/^# slice: *//p' "$DMBT_DIR/$1")
		case " $_slices " in
		*" $DMBT_SLICE "*) ;;
		*) echo "not in slice $DMBT_SLICE" ;;
		esac
	fi
}
if [ $# -eq 0 ]; then
	for t in $(cd "$DMBT_DIR" && ls test_*.sh 2>/dev/null | sort); do
		_req=$(not_planned "$t")
		if [ -n "$_req" ]; then
			echo "# dmbt: not on this kernel: ${t%.sh} ($_req)"
			continue
		fi
		set -- "$@" "$t"
	done
fi
TESTS=
for t in "$@"; do
	TESTS="$TESTS${TESTS:+ }${t%.sh}"
done

# Boot problems (a module failed to load, the kernel already complained) are
# reported as an extra failing test "boot", so they can't go unnoticed.
BOOT_FAIL=
dmesg -c >"$RUNDIR/dmesg.boot"	# cleared: see the scan after each test
if [ -z "$ONE" ] && { [ -s /tmp/dmbt-boot-errors ] ||
		      [ -n "$(bad_lines "$RUNDIR/dmesg.boot")" ]; }; then
	BOOT_FAIL=1
fi

N=$(echo $TESTS | wc -w)
[ -n "$BOOT_FAIL" ] && N=$((N + 1))
echo "KTAP version 1"
echo "1..$N"
echo "# dmbt: tests: ${BOOT_FAIL:+boot }$TESTS"

IDX=0
FAILED=0
SKIPPED=0
if [ -n "$BOOT_FAIL" ]; then
	IDX=1
	FAILED=1
	[ -s /tmp/dmbt-boot-errors ] && prefix "boot: " </tmp/dmbt-boot-errors
	bad_lines "$RUNDIR/dmesg.boot" | prefix "dmesg: "
	echo "not ok 1 boot # module load failed or kernel errors during boot"
fi

# ---- run ---------------------------------------------------------------------
for name in $TESTS; do
	IDX=$((IDX + 1))
	file=$DMBT_DIR/$name.sh
	if [ ! -f "$file" ]; then
		echo "not ok $IDX $name # no such test: $file"
		FAILED=$((FAILED + 1))
		continue
	fi
	to=$(sed -n 's/^#[[:space:]]*timeout:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$file" | head -n1)
	to=${to:-$DEFAULT_TIMEOUT}

	echo "# dmbt: start $name (timeout ${to}s)"
	echo "dmbt: start $IDX $name" >/dev/kmsg
	rm -rf "$SCRATCH" "$RUNDIR"/rc "$RUNDIR"/sid "$RUNDIR"/skip "$RUNDIR"/t1 "$RUNDIR"/cleanup*
	mkdir -p "$SCRATCH"
	export DMBT_TMP=$SCRATCH DMBT_TEST=$name DMBT_SKIP_FILE=$RUNDIR/skip
	t0=$(date +%s.%N)

	# The test runs in its own session (setsid) so that whatever it leaves
	# running can be killed.  That must happen inside the pipeline: a
	# leftover background job holds the pipe open, and prefix would never
	# see EOF.  The pipeline streams the output as it comes, so a crash
	# mid-test still shows everything up to the crash.  busybox timeout
	# exits 143 when the time is up.
	# The dm cleanup also belongs in there: a leftover process blocked on
	# a suspended device only dies once cleanup fails its I/O.
	{
		(cd "$SCRATCH" && setsid sh -c 'echo $$ >"$1"; exec timeout "$2" sh "$3"' \
			sh "$RUNDIR/sid" "$to" "$file" </dev/null)
		_rc=$?
		echo $_rc >"$RUNDIR/rc"
		date +%s.%N >"$RUNDIR/t1"
		# Show where tasks are stuck before killing anything.
		case $_rc in 124|143) echo w >/proc/sysrq-trigger ;; esac
		_sid=$(cat "$RUNDIR/sid" 2>/dev/null)
		kill_session "$_sid"
		dmbt_cleanup >"$RUNDIR/cleanup" 2>&1
		echo $? >"$RUNDIR/cleanup_rc"
		kill_session "$_sid"
	} 2>&1 | prefix ""
	rc=$(cat "$RUNDIR/rc" 2>/dev/null || echo 255)
	dur=$(awk -v a="$t0" -v b="$(cat "$RUNDIR/t1")" 'BEGIN { printf "%.1f", b - a }')
	cleanup_out=$(cat "$RUNDIR/cleanup")
	cleanup_rc=$(cat "$RUNDIR/cleanup_rc" 2>/dev/null || echo 1)
	rm -rf "$SCRATCH"

	# The kernel log since the last test's scan: this test's, with its
	# cleanup (and what the last one left in flight).  Read and cleared
	# in one call, so that no line falls between two scans, and each
	# test's own dmesg reads only its own log, not the whole run's.
	dmesg -c >"$RUNDIR/dmesg"
	bad_lines "$RUNDIR/dmesg" >"$RUNDIR/bad"

	reason=
	case $rc in
	0) ;;
	4) ;;
	124|143) reason="timeout after ${to}s" ;;	# coreutils | busybox
	*) reason="exit code $rc" ;;
	esac
	if [ $cleanup_rc -ne 0 ]; then
		echo "$cleanup_out" | prefix ""
		reason="${reason:+$reason; }cleanup failed"
	fi
	if [ -s "$RUNDIR/bad" ]; then
		prefix "dmesg: " <"$RUNDIR/bad"
		reason="${reason:+$reason; }kernel log reports a bug"
	elif [ -n "$reason" ]; then
		# Context for the failure: the end of this test's kernel log.
		tail -n 30 "$RUNDIR/dmesg" | prefix "dmesg-tail: "
	fi
	echo "# duration: ${dur}s"

	if [ -n "$reason" ]; then
		echo "not ok $IDX $name # $reason"
		FAILED=$((FAILED + 1))
	elif [ "$rc" = 4 ]; then
		why=$(cat "$RUNDIR/skip" 2>/dev/null || echo 'no reason given')
		echo "ok $IDX $name # SKIP $why"
		FAILED=$((FAILED + 1))	# a skip is a defect here
		SKIPPED=$((SKIPPED + 1))
	else
		echo "ok $IDX $name"
	fi
done

echo "# dmbt: $FAILED of $N failed or skipped"
# The number of the last test, for a check /init runs after (kmemleak): the
# kernel log no longer holds the markers.
echo "$IDX" >"$RUNDIR/last"
# --one: kselftest's exit codes (4 = skip).
[ -n "$ONE" ] && [ "$FAILED" -eq 1 ] && [ "$SKIPPED" -eq 1 ] && exit 4
[ "$FAILED" -eq 0 ]
