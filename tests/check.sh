#!/bin/bash
# Driver behind `make check`, `make demo` and `make shell`.
#
#   tests/check.sh [--mode check|demo|shell] [--long] [--kver <kver>|all]
#                  [--tests a,b]
#
# For each kernel: build dm-backup.ko (make modules KVER=...), build the
# initramfs, boot the VM (tests/run-vm.sh).  Default kernel: Debian's 6.1
# (linux-image-amd64); "all" = the 6.1, the 6.12 and the 6.1 PREEMPT_RT
# kernel (tests/kernels.sh), one after the other, 6.12 without the
# user-space tier of tests and the RT kernel with the slice "rt" only (see
# run.sh); "debug" = a 6.1 kernel
# with KASAN, lockdep, kmemleak and fault injection, built once by
# tests/debug-kernel.sh (`make check-debug`).  --long: the campaign tests'
# long form (`make check-long`).
# Ends with exactly one aggregate "N passed, N failed" line (per-kernel
# lines are labelled "<kver>: ...") and exits non-zero on any failure.
#
# A full `make check` (no --tests, not the debug kernel) also runs
# tests/patch-test.sh once, after the kernels: the series of `make patch`
# applies to linux-source-6.1, configures, builds with W=1 and passes
# checkpatch.  It counts as one pseudo-test "patch" in the totals.
# CHECK_PATCH=0 skips it, CHECK_PATCH=1 runs it even with --tests (make
# check CHECK_PATCH=...).  A full run also runs tests/layers.sh on the
# first kernel's objects, the pseudo-test "layers": the module's files
# call each other only downward.  And tests/reboot-test.sh once, on the
# first kernel (the 6.1 one in a default or KVER=all run), the pseudo-test
# "reboot": a persistent job continued, and a tracking job reinstated,
# across real reboots of the VM (make check-reboot, about four minutes).  CHECK_REBOOT=0 skips it,
# CHECK_REBOOT=1 runs it even with --tests.
# DMBT_MODULE=<path>: boot this dm-backup.ko(.xz) instead of building the
# tree's ("@KVER@" in it is replaced by each kernel's release).
set -uo pipefail

MODE=check KVER_ARG= TESTS=
while [ $# -gt 0 ]; do
	case $1 in
	--mode)  MODE=$2; shift 2 ;;
	--long)  export DMBT_APPEND="${DMBT_APPEND:-} dmbt.long=1"; shift ;;
	--kver)  KVER_ARG=$2; shift 2 ;;
	--tests) TESTS=$2; shift 2 ;;
	*) echo "usage: $0 [--mode check|demo|shell] [--long] [--kver K|all] [--tests a,b]" >&2; exit 2 ;;
	esac
done
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
T_START=$SECONDS

tests/install-deps.sh || { echo "check: installing dependencies failed" >&2; exit 1; }

. "$TOP/tests/kernels.sh"
case $KVER_ARG in
"")  KVERS=$(newest_kver 6.1) ;;
all) KVERS=$(all_kvers) ;;
debug) KVERS=debug ;;
*)   KVERS=$KVER_ARG ;;
esac
KVERS=$(echo $KVERS)
[ -n "$KVERS" ] || { echo "check: no 6.1/6.12 kernel found in /boot" >&2; exit 1; }
if [ "$KVER_ARG" = all ] && [ "$(echo $KVERS | wc -w)" -ne 3 ]; then
	echo "check: KVER=all wants 6.1, 6.12 and 6.1-rt; found: $KVERS" >&2
	exit 1
fi
if [ "$MODE" = shell ]; then
	set -- $KVERS
	KVERS=$1
fi

TOTAL_P=0 TOTAL_F=0
RECAP=()	# "kernel: test (reason)" of every failure, repeated at the end
for k in $KVERS; do
	KDIR_ARG=()
	if [ "$k" = debug ]; then
		# Build (or reuse) the debug kernel; its last line of output is
		# "KVER=.. KDIR=.. KERNEL=.. MODROOT=..".  Its modules come from
		# its own modules_install tree, and it boots its own bzImage.
		echo "=== debug kernel ==="
		dk=$(tests/debug-kernel.sh | tail -n1)
		case $dk in
		KVER=*" KDIR="*" KERNEL="*" MODROOT="*) ;;
		*)	echo "FAIL build (debug kernel build failed)"; RECAP+=("debug: the kernel build")
			echo "debug: 0 passed, 1 failed"
			TOTAL_F=$((TOTAL_F + 1))
			continue ;;
		esac
		set -- $dk
		k=${1#KVER=}
		KDIR_ARG=(KDIR="${2#KDIR=}")
		export DMBT_KERNEL=${3#KERNEL=} DMBT_MODROOT=${4#MODROOT=}
		# KASAN's shadow and kmemleak's metadata need room; the suite is
		# several times slower than on the stock kernels.
		export DMBT_VM_MEM=${DMBT_VM_MEM:-3072}
		export DMBT_VM_TIMEOUT=${DMBT_VM_TIMEOUT:-5400}
	fi
	echo "=== $k ==="
	out=build/$k
	ko=$out/src/dm-backup.ko
	if [ -n "${DMBT_MODULE:-}" ]; then
		# A module built elsewhere (make check-deb: the one DKMS built);
		# @KVER@ in the path stands for the kernel.
		ko=${DMBT_MODULE//@KVER@/$k}
		echo "check: module $ko (DMBT_MODULE), not the tree's build"
	# Any number in KVER=... inherited through MAKEFLAGS is overridden here.
	elif ! make --no-print-directory -C "$TOP" modules KVER="$k" "${KDIR_ARG[@]}"; then
		echo "FAIL build ($k: module build failed)"; RECAP+=("$k: the module build")
		echo "$k: 0 passed, 1 failed"
		TOTAL_F=$((TOTAL_F + 1))
		continue
	fi
	if ! tests/mkinitramfs.sh "$k" "$ko" "$out/initramfs.cpio.gz"; then
		echo "FAIL initramfs ($k: initramfs build failed)"; RECAP+=("$k: the initramfs build")
		echo "$k: 0 passed, 1 failed"
		TOTAL_F=$((TOTAL_F + 1))
		continue
	fi
	if [ "$MODE" = shell ]; then
		exec tests/run-vm.sh "$k" shell
	fi
	rm -f "$out/result"
	# CI's time: in KVER=all, 6.1 runs every tier; 6.12 leaves out
	# "# tier: user" (the CLI and the recipes: the same user space over
	# the same kernel interface, which 6.1 runs), the PREEMPT_RT kernel
	# runs "# slice: rt" only (run.sh).  Named on its own, a kernel runs
	# everything.
	append=${DMBT_APPEND:-}
	case $KVER_ARG:$k in
	all:*-rt-*) append="$append dmbt.slice=rt" ;;
	all:6.12*) append="$append dmbt.tier=kernel,crash" ;;
	esac
	DMBT_APPEND=$append DMBT_SUMMARY_LABEL="$k: " \
		tests/run-vm.sh "$k" "$MODE" "${TESTS:-all}"
	if [ -f "$out/result" ]; then
		FAILED_TESTS=
		. "$out/result"		# PASSED=.. FAILED=.. FAILED_TESTS=..
		[ -z "$FAILED_TESTS" ] || RECAP+=("$k: $FAILED_TESTS")
	else
		PASSED=0 FAILED=1
		echo "FAIL run-vm ($k: no result)"; RECAP+=("$k: the VM run (no result)")
	fi
	TOTAL_P=$((TOTAL_P + PASSED))
	TOTAL_F=$((TOTAL_F + FAILED))
done

# ---- the kernel patch series (pseudo-test "patch") ------------------------------
CHECK_PATCH=${CHECK_PATCH:-}
if [ "$MODE" = check ] && [ "$CHECK_PATCH" != 0 ] &&
   { [ "$CHECK_PATCH" = 1 ] || { [ -z "$TESTS" ] && [ "$KVER_ARG" != debug ]; }; }; then
	echo "=== patch ==="
	if tests/patch-test.sh; then
		echo "ok patch"
		TOTAL_P=$((TOTAL_P + 1))
	else
		echo "FAIL patch"; RECAP+=("patch: the kernel patch series (make check-patch)")
		TOTAL_F=$((TOTAL_F + 1))
	fi
fi

# ---- the file graph of the module (pseudo-test "layers") ------------------------
# From the objects of the first kernel built above; no VM, a second or two.
LAYERS_OBJ=build/${KVERS%% *}/src/drivers/md
if [ "$MODE" = check ] && [ -z "$TESTS" ] && [ "$KVER_ARG" != debug ] &&
   [ -d "$LAYERS_OBJ" ]; then
	echo "=== layers ==="
	if tests/layers.sh --dot '' "$LAYERS_OBJ"; then
		echo "ok layers"
		TOTAL_P=$((TOTAL_P + 1))
	else
		echo "FAIL layers"; RECAP+=("layers: a file calls up or in a cycle (make layers)")
		TOTAL_F=$((TOTAL_F + 1))
	fi
fi

# ---- a persistent job across a reboot of the VM (pseudo-test "reboot") ----------
# Two boots of the first kernel's VM and initramfs, built above.
CHECK_REBOOT=${CHECK_REBOOT:-}
if [ "$MODE" = check ] && [ "$CHECK_REBOOT" != 0 ] && [ "$KVER_ARG" != debug ] &&
   { [ "$CHECK_REBOOT" = 1 ] || [ -z "$TESTS" ]; }; then
	echo "=== reboot ==="
	rk=${KVERS%% *}
	if tests/reboot-test.sh --no-build --kver "$rk"; then
		echo "ok reboot"
		TOTAL_P=$((TOTAL_P + 1))
	else
		# Its result line, "reboot: FAIL (<reason>; <kver>, <time>)".
		out=$(cat "build/$rk/reboot/result" 2>/dev/null)
		echo "FAIL reboot"; RECAP+=("reboot: ${out#reboot: FAIL } (make check-reboot)")
		TOTAL_F=$((TOTAL_F + 1))
	fi
fi

for r in "${RECAP[@]}"; do
	echo "check: FAILED on $r"
done
echo "check: kernels: $KVERS; total time $((SECONDS - T_START))s"
echo "$TOTAL_P passed, $TOTAL_F failed"
[ "$TOTAL_F" -eq 0 ] && [ "$TOTAL_P" -gt 0 ]
