#!/bin/bash
# Boot the test VM for one kernel and report the results.
#
#   tests/run-vm.sh <kver> <check|demo|bench|shell> [test,test,...|all]
#   tests/run-vm.sh <kver> reboot <phase>
#
# Needs build/<kver>/initramfs.cpio.gz (tests/mkinitramfs.sh; `make check`
# does all of it).  qemu runs under TCG (-enable-kvm hangs on this kind of
# host) with an overall timeout; the console (qemu's stdout, "\r" stripped)
# is shown live and kept in build/<kver>/console.log.  Afterwards the KTAP
# output of the guest's run.sh is summarised as "PASS name" / "FAIL name
# (reason)" lines and a final "N passed, N failed".  A skip, a test that was
# running when the kernel panicked or the VM timed out, tests that never ran,
# and a VM that died before "DMBT-DONE" all count as failures.
#
# Mode reboot (tests/reboot-test.sh): the guest runs selftests/reboot.sh
# <phase>, one result named "reboot-<phase>".  It passes on "DMBT-DONE
# rc=0", or when the guest printed "DMBT-RESET" and the VM then ended
# (sysrq-b: with -no-reboot a reset ends qemu with exit code 0) with no
# kernel panic (panic=-1 resets too) and no DMBT-DONE.
#
# Environment:
#   DMBT_VM_TIMEOUT  overall limit in seconds (default 3600)
#   DMBT_VM_MEM      MiB of guest RAM (2048)      DMBT_VM_SMP  vCPUs (2)
#   DMBT_APPEND      extra kernel command line
#   DMBT_INITRD      initramfs to boot (default build/<kver>/initramfs.cpio.gz)
#   DMBT_KERNEL      kernel image to boot (default /boot/vmlinuz-<kver>)
#   DMBT_QUIET=1     don't echo the console (it still goes to console.log)
#   DMBT_OUT         directory for console.log, boot-time and result
#                    (default build/<kver>; tests/bench.sh uses its own)
#   DMBT_SUMMARY_LABEL  prefix for the summary line (used by tests/check.sh)
#   DMBT_DRIVES      host files (raw images, space-separated, no spaces in
#                    a name) the guest sees as virtio disks /dev/vda, vdb,
#                    ... in that order (cache=writeback: a guest flush is
#                    a host fdatasync); tests/reboot-test.sh
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: $0 <kver> <check|demo|bench|shell|reboot> [tests|phase]" >&2; exit 2; }
KVER=$1 MODE=$2 TESTS=${3:-all}
[ -n "$TESTS" ] || TESTS=all
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${DMBT_OUT:-$TOP/build/$KVER}
KERNEL=${DMBT_KERNEL:-/boot/vmlinuz-$KVER}
INITRD=${DMBT_INITRD:-$TOP/build/$KVER/initramfs.cpio.gz}
LOG=$OUT/console.log
TIMEOUT=${DMBT_VM_TIMEOUT:-3600}

case $MODE in check|demo|bench|shell|reboot) ;; *) echo "$0: bad mode '$MODE'" >&2; exit 2 ;; esac
# The test list ends up on the kernel command line: keep it to safe chars.
case $TESTS in *[!A-Za-z0-9_.,-]*) echo "$0: bad test list '$TESTS'" >&2; exit 2 ;; esac
[ -r "$KERNEL" ] || { echo "$0: $KERNEL not found/readable" >&2; exit 2; }
[ -r "$INITRD" ] || { echo "$0: $INITRD missing (make check builds it)" >&2; exit 2; }
mkdir -p "$OUT"

# log_buf_len: room for a whole run's kernel log, which run.sh scans.
# -nic none: no network, and no iPXE option ROM delaying the boot.
# virtio-rng: the host's randomness, so the guest's pool is ready at once.
QEMU=(qemu-system-x86_64 -accel tcg -m "${DMBT_VM_MEM:-2048}" -smp "${DMBT_VM_SMP:-2}"
	-nographic -no-reboot -nic none -device virtio-rng-pci
	-kernel "$KERNEL" -initrd "$INITRD"
	-append "console=ttyS0 quiet panic=-1 log_buf_len=8M dmbt.mode=$MODE dmbt.tests=$TESTS ${DMBT_APPEND:-}")
for f in ${DMBT_DRIVES:-}; do
	[ -f "$f" ] || { echo "$0: DMBT_DRIVES: $f is not a file" >&2; exit 2; }
	QEMU+=(-drive "file=$f,format=raw,if=virtio,cache=writeback")
done

if [ "$MODE" = shell ]; then
	# Interactive: the terminal talks to the guest directly.
	exec "${QEMU[@]}"
fi

# ---- run -------------------------------------------------------------------
# Strip "\r" and tee in bash rather than with tr|tee: tr would buffer the
# live output, and here we can also time the boot.
T0=$EPOCHREALTIME
consume() {
	local line t_init=
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >&3
		[ -n "${DMBT_QUIET:-}" ] || printf '%s\n' "$line"
		if [ -z "$t_init" ] && [[ $line == *DMBT-INIT* ]]; then
			t_init=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
			echo "$t_init" >"$OUT/boot-time"
		fi
	done
}
# boot_vm: one boot, its console in $LOG.  stdin from /dev/null: the guest
# needs no input.  --foreground keeps qemu in our process group, so Ctrl-C
# (or a CI job kill) reaches it; without it timeout(1) moves to its own
# group and an interrupted run leaves qemu behind.
boot_vm() {
	rm -f "$OUT/boot-time"
	echo "run-vm: booting $KVER (mode=$MODE tests=$TESTS, timeout ${TIMEOUT}s); log: $LOG"
	timeout --foreground --kill-after=10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | consume 3>"$LOG"
	QEMU_RC=${PIPESTATUS[0]}
}
boot_vm
# A kernel that dies before /init never ran our module (it loads later):
# TCG has been seen to run a stale translation of code the kernel had just
# patched ("Oops: int3" in the boot of 6.12, once in many boots).  That
# one boot is tried again, saying so; any death after /init counts.
if [ ! -f "$OUT/boot-time" ] && grep -q "Kernel panic\|Oops" "$LOG"; then
	mv "$LOG" "$OUT/console.failed-boot.log"
	echo "run-vm: the kernel died while booting, before /init (log kept in $OUT/console.failed-boot.log); booting again"
	boot_vm
fi
T_TOTAL=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# ---- parse -------------------------------------------------------------------
declare -a ORDER=()		# test names in the order results appeared
declare -A RESULT=()		# name -> PASS | FAIL
declare -A REASON=()
PLANNED=
RUNNING=
KTAP=
DONE_RC=
PANIC=
RESET=
add() {	# add <name> <PASS|FAIL> [reason]
	[ -n "${RESULT[$1]:-}" ] || ORDER+=("$1")
	RESULT[$1]=$2
	REASON[$1]=${3:-}
}
while IFS= read -r line; do
	case $line in
	"KTAP version 1") KTAP=1 ;;
	"# dmbt: tests: "*) PLANNED=${line#"# dmbt: tests: "} ;;
	"# dmbt: start "*) RUNNING=${line#"# dmbt: start "}; RUNNING=${RUNNING%% *} ;;
	"DMBT-DONE rc="*) DONE_RC=${line#DMBT-DONE rc=} ;;
	"DMBT-RESET"*) RESET=1 ;;
	*"Kernel panic - not syncing"*) PANIC=${PANIC:-${line#*Kernel panic - not syncing: }} ;;
	esac
	if [[ $line =~ ^(not ok|ok)\ [0-9]+\ ([^ ]+)(\ #\ (.*))?$ ]]; then
		name=${BASH_REMATCH[2]} directive=${BASH_REMATCH[4]}
		if [ "${BASH_REMATCH[1]}" = ok ]; then
			if [[ $directive == SKIP* ]]; then
				add "$name" FAIL "skipped:${directive#SKIP}"
			else
				add "$name" PASS
			fi
		else
			add "$name" FAIL "$directive"
		fi
		[ "$name" = "$RUNNING" ] && RUNNING=
	fi
done <"$LOG"

# Why the VM stopped, if it didn't finish on its own.
if [ -n "$PANIC" ]; then
	DEATH="kernel panic: $PANIC"
elif [ "$QEMU_RC" = 124 ] || [ "$QEMU_RC" = 137 ]; then
	DEATH="VM timed out after ${TIMEOUT}s"
else
	DEATH="VM died (qemu exit code $QEMU_RC)"
fi

if [ "$MODE" = demo ] || [ "$MODE" = bench ]; then
	# One script, one result: bench.sh like demo.sh.
	if [ -z "$DONE_RC" ]; then
		add "$MODE" FAIL "$DEATH before DMBT-DONE"
	elif [ "$DONE_RC" = 0 ]; then
		add "$MODE" PASS
	else
		add "$MODE" FAIL "$MODE.sh exit code $DONE_RC"
	fi
elif [ "$MODE" = reboot ]; then
	if [ -n "$DONE_RC" ]; then
		if [ "$DONE_RC" = 0 ]; then
			add "reboot-$TESTS" PASS
		else
			add "reboot-$TESTS" FAIL "reboot.sh $TESTS exit code $DONE_RC"
		fi
	elif [ -n "$RESET" ] && [ -z "$PANIC" ] && [ "$QEMU_RC" = 0 ]; then
		add "reboot-$TESTS" PASS	# the reset it asked for
	elif [ -n "$RESET" ]; then
		add "reboot-$TESTS" FAIL "$DEATH after DMBT-RESET, not the reset"
	else
		add "reboot-$TESTS" FAIL "$DEATH before DMBT-DONE or DMBT-RESET"
	fi
else
	if [ -z "$DONE_RC" ]; then
		# Blame the test that was running, then list the ones never run.
		if [ -n "$RUNNING" ]; then
			add "$RUNNING" FAIL "$DEATH while it was running"
		fi
		for t in $PLANNED; do
			[ -n "${RESULT[$t]:-}" ] || add "$t" FAIL "not run: $DEATH"
		done
		[ ${#ORDER[@]} -gt 0 ] || add vm FAIL "$DEATH before any test ran"
	fi
	if [ -z "$KTAP" ] && [ ${#ORDER[@]} -eq 0 ]; then
		add boot FAIL "no test output at all (guest rc=${DONE_RC:-none}); see $LOG"
	elif [ ${#ORDER[@]} -eq 0 ]; then
		add boot FAIL "no tests ran"
	fi
	# All reported tests passed but the guest runner still failed.
	if [ -n "$DONE_RC" ] && [ "$DONE_RC" != 0 ]; then
		bad=0
		for t in "${ORDER[@]}"; do [ "${RESULT[$t]}" = FAIL ] && bad=1; done
		[ $bad = 1 ] || add runner FAIL "guest run.sh exit code $DONE_RC"
	fi
fi

# ---- report --------------------------------------------------------------------
PASSED=0 FAILED=0
echo
echo "== results: $KVER =="
for t in "${ORDER[@]}"; do
	if [ "${RESULT[$t]}" = PASS ]; then
		PASSED=$((PASSED + 1))
		echo "PASS $t"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $t${REASON[$t]:+ (${REASON[$t]})}"
	fi
done
{
	echo "PASSED=$PASSED FAILED=$FAILED"
	# The names of the failed tests, for check.sh's recap at the very end
	# of the output (CI shows only the tail of a long log).
	printf 'FAILED_TESTS=%q\n' "$(for t in "${ORDER[@]}"; do
		[ "${RESULT[$t]}" = PASS ] || printf '%s ' "$t${REASON[$t]:+ (${REASON[$t]})};"
	done)"
} >"$OUT/result"
echo "run-vm: boot to /init $(cat "$OUT/boot-time" 2>/dev/null || echo '?')s, VM total ${T_TOTAL}s, console log $LOG"
echo "${DMBT_SUMMARY_LABEL:-}$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
