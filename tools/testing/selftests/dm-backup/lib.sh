# SPDX-License-Identifier: GPL-2.0-only
# Helpers for dm-backup selftests.  Source it (busybox sh):
#     . "$DMBT_DIR/lib.sh"
# The runner (run.sh) exports:
#   DMBT_DIR   this directory (/selftests in the VM); a test sources lib.sh
#              as "${DMBT_DIR:-$(dirname "$0")}/lib.sh" so that it also
#              starts on its own (see below)
#   DMBT_TMP   a fresh scratch directory (tmpfs) for this test; it is also
#              the test's working directory and is deleted afterwards
#   DMBT_TEST  the test's name
# and cleans up after every test: dm devices, loop devices, brd/null_blk/
# scsi_debug.
#
# Functions that can't do their job call `fail`, which exits the test, so
# tests need no error checks around them.  Careful: inside $(...) `fail` only
# exits the subshell, e.g. `dev=$(mkloop 16) || exit 1`.

DMBT_DIR=${DMBT_DIR:-$(cd "$(dirname "$0")" && pwd)}
DMBT_TMP=${DMBT_TMP:-/tmp}
export DM_DISABLE_UDEV=1

# A test started on its own, not by run.sh (kselftest's runner runs every
# test_*.sh as a program; or by hand): hand it over to run.sh, which runs
# this one test under the suite's harness (dm-backup loaded, a fresh
# DMBT_TMP, the test's timeout, cleanup afterwards and the kernel log
# scan) and exits 0/4/1 for pass/skip/fail.  The VM runs all tests through
# run.sh directly.
if [ -z "${DMBT_RUNNER:-}" ]; then
	case ${0##*/} in
	test_*.sh) exec sh "$DMBT_DIR/run.sh" --one "${0##*/}" ;;
	esac
fi

# The helpers (bkp-io, dmbt-prng, ...): in the VM in /usr/local/bin; from a
# kernel tree, kselftest builds or installs them next to the scripts.
case ":$PATH:" in
*":$DMBT_DIR:"*) ;;
*) PATH=$PATH:$DMBT_DIR ;;
esac

# Debian's busybox-static is built with FEATURE_SH_STANDALONE and
# PREFER_APPLETS: its sh (and its timeout, env, xargs) run the busybox applet
# of a name *before* looking at PATH, so the real dd/date/cmp/losetup/...
# packed into the initramfs would never run.  Shell functions beat applets:
# route those names to the real binaries.  Where a command is run by another
# program (timeout 10 dd ..., xargs, sh -c), use the full path instead.
for _t in dd date cmp losetup blockdev blkdiscard mke2fs; do
	for _d in /usr/bin /usr/sbin; do
		if [ -x "$_d/$_t" ]; then
			eval "$_t() { $_d/$_t \"\$@\"; }"
			break
		fi
	done
done
unset _t _d

# campaign <short> <long>: how many rounds a campaign test (stress, fuzz)
# runs: a short, deterministic slice in `make check` (CI), the long form
# in `make check-long` (DMBT_LONG=1, from dmbt.long=1 on the kernel command
# line).
campaign() {
	if [ "${DMBT_LONG:-0}" = 1 ]; then
		echo "$2"
	else
		echo "$1"
	fi
}

# fail <msg>: report and end the test as failed.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# skip <reason>: end the test as skipped (exit 4).  The host counts a skip
# as a failure: a test that cannot run is a defect of the suite.
skip() {
	[ -n "${DMBT_SKIP_FILE:-}" ] && echo "$*" >"$DMBT_SKIP_FILE"
	echo "SKIP: $*"
	exit 4
}

# info <msg>: progress message with the guest uptime.
info() {
	echo "[$(cut -d' ' -f1 /proc/uptime)] $*"
}

# kmsg <msg>: write a line to the kernel log (handy to correlate dmesg).
kmsg() {
	echo "dmbt: $*" >/dev/kmsg
}

# run <cmd...>: echo and run a command, fail the test if it fails.
run() {
	echo "+ $*"
	"$@" || fail "command failed (rc=$?): $*"
}

# mkloop <size_MiB>: a fresh zero-filled loop device backed by a tmpfs file;
# prints /dev/loopN.  The backing file is unlinked at once: the memory is
# freed when the runner detaches the device after the test.
mkloop() {
	[ -n "${1:-}" ] || fail "usage: mkloop <size_MiB>"
	_ml_f=$(mktemp /tmp/dmbt-loop.XXXXXX) || fail "mktemp failed"
	truncate -s "${1}M" "$_ml_f" || fail "truncate ${1}M failed (tmpfs full?)"
	_ml_dev=$(losetup --show -f "$_ml_f") || fail "losetup failed"
	rm -f "$_ml_f"
	echo "$_ml_dev"
}

# ramdisk <size_MiB>: a fresh RAM-backed block device (a loop device on
# tmpfs, see mkloop); prints its path.
ramdisk() {
	mkloop "$@"
}

# mkbrd <n> <size_MiB>: (re)load brd with n RAM disks of size_MiB each;
# prints "/dev/ram0 /dev/ram1 ...".  brd sizes are module parameters, so all
# brd disks of a test have the same size: use mkloop for mixed sizes.
mkbrd() {
	[ -n "${2:-}" ] || fail "usage: mkbrd <n> <size_MiB>"
	if grep -q '^brd ' /proc/modules; then
		rmmod brd || fail "cannot unload brd (a /dev/ram* still in use?)"
	fi
	modprobe brd rd_nr="$1" rd_size=$(($2 * 1024)) max_part=0 ||
		fail "modprobe brd failed"
	_mb_i=0
	_mb_out=
	while [ "$_mb_i" -lt "$1" ]; do
		[ -b /dev/ram$_mb_i ] || fail "/dev/ram$_mb_i did not appear"
		_mb_out="$_mb_out${_mb_out:+ }/dev/ram$_mb_i"
		_mb_i=$((_mb_i + 1))
	done
	echo "$_mb_out"
}

# load_mod <module> [params...]: modprobe (fails the test if that fails).
load_mod() {
	modprobe "$@" || fail "modprobe $* failed"
}

# sectors <dev>: size in 512-byte sectors.
sectors() {
	blockdev --getsz "$1" || fail "blockdev --getsz $1 failed"
}

# prng <seed> <bytes> [offset]: deterministic pseudo-random bytes on stdout
# (dmbt-prng.c).  A byte depends only on (seed, absolute offset), so any
# range can be regenerated later as the expected data.  Sizes take K/M/G.
prng() {
	dmbt-prng "$@"
}

# fill_random <dev_or_file> [seed] [bytes]: overwrite with prng data (the
# whole device by default).  Fast (GB/s) unlike /dev/urandom under TCG.
fill_random() {
	_fr_dev=$1
	_fr_seed=${2:-$$}
	_fr_len=${3:-}
	if [ -z "$_fr_len" ]; then
		if [ -b "$_fr_dev" ]; then
			_fr_len=$(($(sectors "$_fr_dev") * 512))
		else
			_fr_len=$(stat -c %s "$_fr_dev")
		fi
	fi
	if command -v dmbt-prng >/dev/null; then
		dmbt-prng "$_fr_seed" "$_fr_len" | dd of="$_fr_dev" bs=1M iflag=fullblock \
			conv=notrunc status=none || fail "fill_random $_fr_dev failed"
	else
		# Fallback: slow under TCG, fine for small devices.
		head -c "$_fr_len" /dev/urandom | dd of="$_fr_dev" bs=1M iflag=fullblock \
			conv=notrunc status=none || fail "fill_random $_fr_dev failed"
	fi
	sync
}

# kasan_quarantine_mib: MiB of freed slab objects a KASAN kernel (make
# check-debug) may hold back in its quarantine before it really frees them
# (mm/kasan/quarantine.c: 1/32 of RAM); 0 on a kernel without KASAN.
# Memory that MemAvailable does not promise: tests that leave the kernel
# little memory must leave this much more.
kasan_quarantine_mib() {
	if grep -q ' kasan_quarantine_reduce$' /proc/kallsyms 2>/dev/null; then
		awk '/^MemTotal:/ { print int($2 / 1024 / 32) }' /proc/meminfo
	else
		echo 0
	fi
}

# drop_caches <dev...>: write back and drop cached pages, so that reads see
# what is on the device now and not what an earlier read cached (different
# block devices stacked on each other have separate page caches).
drop_caches() {
	sync
	for _dc in "$@"; do
		[ -b "$_dc" ] && blockdev --flushbufs "$_dc" 2>/dev/null
	done
	echo 3 >/proc/sys/vm/drop_caches
}

# same <a> <b> [bytes]: a and b (files or devices) must be identical (the
# first `bytes` bytes only, if given); otherwise fail naming the first
# differing offset.  Caches of block devices are dropped first.
same() {
	drop_caches "$1" "$2"
	if [ -n "${3:-}" ]; then
		_sm_out=$(cmp -n "$3" -- "$1" "$2" 2>&1)
	else
		_sm_out=$(cmp -- "$1" "$2" 2>&1)
	fi
	[ $? -eq 0 ] && return 0
	# diffutils cmp: "A B differ: byte 12345, line 7" (1-based byte);
	# a size mismatch: "cmp: EOF on B after byte N".
	_sm_byte=$(echo "$_sm_out" | sed -n 's/.*differ: [a-z]* \([0-9][0-9]*\).*/\1/p')
	if [ -n "$_sm_byte" ]; then
		_sm_off=$((_sm_byte - 1))
		fail "$1 and $2 differ at offset $_sm_off" \
		     "(sector $((_sm_off / 512)), 4k block $((_sm_off / 4096)))"
	fi
	fail "$1 and $2 differ: $_sm_out"
}

# status_field_pos <field>: the position of a backup status field among
# the target's own status words, named as in dm-backup.rst ("Status"):
# sync_mode state progress (copied/total) chunk_sectors cbw_chunks
# zero_chunks last_error last_error_chunk source_errors target_errors
# skipped_chunks speed job_uuid persistence changed.  The one table of these
# names: backup_status and status_word use it.
status_field_pos() {
	case $1 in
	sync_mode)		echo 1 ;;
	state)			echo 2 ;;
	progress)		echo 3 ;;
	chunk_sectors)		echo 4 ;;
	cbw_chunks)		echo 5 ;;
	zero_chunks)		echo 6 ;;
	last_error)		echo 7 ;;
	last_error_chunk)	echo 8 ;;
	source_errors)		echo 9 ;;
	target_errors)		echo 10 ;;
	skipped_chunks)		echo 11 ;;
	speed)			echo 12 ;;
	job_uuid)		echo 13 ;;
	persistence)		echo 14 ;;
	changed)		echo 15 ;;
	*) fail "no backup status field '$1'" ;;
	esac
}

# status_word <words> <field>: the named field (see status_field_pos) of
# status words saved earlier from backup_status, e.g.
#     st=$(backup_status bk); ...; status_word "$st" skipped_chunks
status_word() {
	_sw_n=$(status_field_pos "$2") || exit 1
	# shellcheck disable=SC2086 # word splitting wanted
	set -- $1
	eval "echo \"\${$_sw_n:-}\""
}

# backup_status <name>[#<target>] [field]: the backup target's own status
# words (what follows "<start> <len> backup"), or only the named field
# (see status_field_pos).  "bk#2" reads the second target of a table with
# several (default: the first).
backup_status() {
	_bs_name=${1%#*}
	_bs_target=1
	case $1 in *"#"*) _bs_target=${1##*#} ;; esac
	_bs_field=${2:-}
	_bs_line=$(dmsetup status "$_bs_name" 2>&1 | sed -n "${_bs_target}p")
	# shellcheck disable=SC2086 # word splitting wanted
	set -- $_bs_line
	[ "${3:-}" = backup ] || fail "$_bs_name: not a backup target: $_bs_line"
	shift 3
	if [ -z "$_bs_field" ]; then
		echo "$*"
	else
		status_word "$*" "$_bs_field"
	fi
}

# backup_state <name>: the state word of the status line.
backup_state() {
	backup_status "$1" state
}

# wait_until <timeout_s> <why> <command> [args...]: run the command every
# 0.1 s until it succeeds.  Otherwise fail with <why>, which is expanded
# only then: pass it in single quotes to show the state at the deadline,
# e.g. wait_until 60 'walk stuck: $(backup_status bk)' chunk_copied 5.
# Inside <why>, $1... are wait_until's own: expand a caller's arguments at
# the call ("...\$(backup_status $1)").
wait_until() {
	_wu_end=$(($(date +%s) + $1))
	_wu_why=$2
	shift 2
	until "$@"; do
		if [ "$(date +%s)" -ge "$_wu_end" ]; then
			eval "fail \"$_wu_why\""
		fi
		sleep 0.1
	done
}

# state_is <name> <state>: the backup target reports that state.
state_is() {
	[ "$(backup_status "$1" state 2>/dev/null)" = "$2" ]
}

# state_not <name> <state...>: the backup target reports none of these
# states, e.g. wait_until 120 '...' state_not bk running paused.
state_not() {
	_sn_name=$1
	shift
	_sn_state=$(backup_status "$_sn_name" state 2>/dev/null)
	for _sn_s in "$@"; do
		[ "$_sn_state" = "$_sn_s" ] && return 1
	done
	return 0
}

# wait_state <name> <state> [timeout_s=60]: until the backup target reports
# the state.
wait_state() {
	_ws_why="$1: state did not become '$2' within ${3:-60}s"
	wait_until "${3:-60}" "$_ws_why; status: \$(dmsetup status $1 2>&1)" \
		state_is "$1" "$2"
}

# proc_gone <pid>: the process has ended (wait_until proc_gone $pid).
proc_gone() {
	! kill -0 "$1" 2>/dev/null
}

# dm_gone <name>: no dm device of that name exists.
dm_gone() {
	! dmsetup info "$1" >/dev/null 2>&1
}

# dmbt_cleanup: remove all dm devices, detach loop devices, unload brd,
# null_blk and scsi_debug; print what could not be cleaned and return non-zero if anything
# is left.  The runner calls it after every test.
dmbt_cleanup() {
	_cl_rc=0
	# A test that failed with dm-backup's fault injection on (test_37).
	_cl_f=/sys/kernel/debug/fail_dm_backup_alloc/probability
	[ -e "$_cl_f" ] && echo 0 >"$_cl_f"
	# The nbd-server of a `dmbackup export` a test left running (test_97):
	# it holds the export's view open.
	for _cl_p in /run/dmbackup/export-*.pid; do
		[ -e "$_cl_p" ] || continue
		kill "$(cat "$_cl_p")" 2>/dev/null && echo "cleanup: stopped $_cl_p" && _cl_rc=1
		rm -f "$_cl_p" "${_cl_p%.pid}.conf"
	done
	for _cl_i in 1 2 3 4 5; do
		_cl_left=$(dmsetup info -c --noheadings -o name 2>/dev/null |
			   grep -v '^No devices found')
		[ -z "$_cl_left" ] && break
		# -f: devices still open get an error table, which also fails any
		# I/O queued on a suspended device, so the removal can proceed.
		dmsetup remove_all -f >/dev/null 2>&1
		# A test that failed with a file system mounted: unmount it,
		# now that remove_all -f gave its device an error table (no
		# unmount can hang on a suspended device), or the device can
		# never go and every later test fails for it.
		for _cl_m in $(awk '$1 ~ /^\/dev\/(mapper\/|dm-|loop|nbd)/ { print $2 }' \
				/proc/mounts | sort -r); do
			fsfreeze --unfreeze "$_cl_m" 2>/dev/null
			umount "$_cl_m" 2>/dev/null || umount -l "$_cl_m" 2>/dev/null
			echo "cleanup: unmounted $_cl_m"
			_cl_rc=1
		done
		sleep 0.5
	done
	_cl_left=$(dmsetup info -c --noheadings -o name 2>/dev/null | grep -v '^No devices found')
	if [ -n "$_cl_left" ]; then
		echo "cleanup: dm devices left: $(echo $_cl_left)"
		_cl_rc=1
	fi
	losetup -D 2>/dev/null
	# NBD devices a test left connected (test_67).
	for _cl_n in /sys/block/nbd*/pid; do
		[ -e "$_cl_n" ] || continue
		_cl_n=${_cl_n%/pid}
		nbd-client -d "/dev/${_cl_n##*/}" >/dev/null 2>&1 ||
			{ echo "cleanup: cannot disconnect /dev/${_cl_n##*/}"; _cl_rc=1; }
	done
	_cl_loops=$(losetup -n -O NAME 2>/dev/null)
	if [ -n "$_cl_loops" ]; then
		echo "cleanup: loop devices still attached: $(echo $_cl_loops)"
		_cl_rc=1
	fi
	rm -f /tmp/dmbt-loop.*
	for _cl_m in brd null_blk scsi_debug; do
		if grep -q "^$_cl_m " /proc/modules; then
			rmmod "$_cl_m" 2>/dev/null ||
				{ echo "cleanup: cannot unload $_cl_m"; _cl_rc=1; }
		fi
	done
	# A test may unload dm-backup on purpose: the next one gets it back.
	grep -q '^dm_backup ' /proc/modules || modprobe dm-backup ||
		{ echo "cleanup: cannot reload dm-backup"; _cl_rc=1; }
	return $_cl_rc
}
