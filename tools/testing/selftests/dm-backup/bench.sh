#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dm-backup benchmark, guest side (issue 5).  Not a test: `make check` only
# runs test_*.sh.  Started by /init in dmbt.mode=bench (`make bench`, see
# tests/bench.sh, which boots the VM, collects the numbers and writes the
# Markdown report).
#
# Every measurement is printed as one console line
#     DMBT-BENCH <key> <run> <value>
# and the host takes the median and the min-max over the runs.  Anything
# that goes wrong (a device that cannot be set up, fio failing, a snapshot
# that overflowed, a backup job that failed) ends the script with `fail`,
# hence a non-zero "DMBT-DONE rc=": no case is ever skipped silently.
#
# Kernel command line knobs (tests/bench.sh sets them):
#   dmbt.bench_runs=N       repetitions of every case (3)
#   dmbt.bench_cases=1,2,.. cases to run (all: 1-10)
#   dmbt.bench_walk_mb=M    walk/throttle/"during walk" region (1024)
#   dmbt.bench_rand_mb=M    4k random / 1M sequential region (512)
#
# Cases (see tests/bench.sh for the report):
#   1 walk throughput, idle origin, vs dd      4 writes during a walk
#   2 4k random writes (first / copied)        5 throttle accuracy
#   3 1 MiB sequential first writes            6 scale: ctr time, memory
#   7 first 4k writes with a slow backup device (dm-delay, writes 1 ms)
#   8 a walk by kcopyd: dm-mirror's resync of the same disks (case 1's peer)
#   9 persistent jobs: first 4k writes against dm-snapshot P and the volatile
#     job, on brd and on null_blk with NVMe-like and disk-like latency, with
#     the physical floor; the walk with and without meta, metadata writes
#  10 change tracking: writes to recorded chunks against dm-linear, first
#     writes to unrecorded chunks against dm-era, an increment that copies
#     nothing on a 1 TiB origin

DMBT_DIR=${DMBT_DIR:-$(cd "$(dirname "$0")" && pwd)}
export DMBT_DIR
DMBT_TMP=/tmp/dmbt-bench
mkdir -p "$DMBT_TMP"
export DMBT_TMP
. "$DMBT_DIR/lib.sh"
. "$DMBT_DIR/backup.sh"
cd "$DMBT_TMP" || exit 1

RUNS=3 CASES=1,2,3,4,5,6,7,8,9,10 WALK_MB=1024 RAND_MB=512
for w in $(cat /proc/cmdline); do
	case $w in
	dmbt.bench_runs=*)    RUNS=${w#*=} ;;
	dmbt.bench_cases=*)   CASES=${w#*=} ;;
	dmbt.bench_walk_mb=*) WALK_MB=${w#*=} ;;
	dmbt.bench_rand_mb=*) RAND_MB=${w#*=} ;;
	esac
done
# The dm-backup device of cases 2 and 3 spans the walk region, so that
# writing the whole random-write region leaves the job running.
[ "$RAND_MB" -lt "$WALK_MB" ] || fail "bench_rand_mb must be less than bench_walk_mb"
# brd disks: the largest region plus room for a persistent snapshot's
# metadata (a full 64 KiB-chunk overwrite of the region must fit the COW).
BRD_MB=$((WALK_MB + 32))
WALK_SZ=$((WALK_MB * 2048))	# sectors
RAND_SZ=$((RAND_MB * 2048))
RAND_CHUNKS=$((RAND_MB * 16))	# 64 KiB chunks in the random-write region
O=/dev/ram0			# origin
B=/dev/ram1			# backup device / snapshot COW
FIO=/usr/bin/fio
JQ=/usr/bin/jq

command -v $FIO >/dev/null || fail "fio missing from the initramfs (DMBT_WITH_FIO=1)"
command -v $JQ >/dev/null || fail "jq missing from the initramfs (tests/bench.sh adds it)"

has_case() {
	case ",$CASES," in *",$1,"*) return 0 ;; esac
	return 1
}

# ---- helpers -------------------------------------------------------------------
now() { date +%s.%N; }
# secs <t0> <t1>
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
# calc <awk expression>
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
# emit <key> <value>: one measurement of the current run.
emit() {
	case $2 in
	''|*[!0-9.e+-]*) fail "bench: bad value '$2' for $1" ;;
	esac
	echo "DMBT-BENCH $1 $RUN $2"
}
meminfo() {	# MemFree Slab SUnreclaim VmallocUsed (KiB)
	awk '$1 == "MemFree:" { f = $2 } $1 == "Slab:" { s = $2 }
	     $1 == "SUnreclaim:" { u = $2 } $1 == "VmallocUsed:" { v = $2 }
	     END { print f, s, u, v }' /proc/meminfo
}
dm_remove() {
	for _d in "$@"; do
		dmsetup remove "$_d" || fail "dmsetup remove $_d failed"
	done
}
dm_create() {	# dm_create <name> <table>
	dmsetup create "$1" --table "$2" ||
		fail "dmsetup create $1 '$2' failed: $(dmesg | tail -n 3)"
}
# writes_done <dm name>: writes completed on a dm device (stat field 5).
writes_done() {
	awk '{ print $5 }' "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")/stat"
}

# wait_completed <name> [timeout_s]: event-driven wait (dmsetup wait) for
# state completed, failing on any other end state.
wait_completed() {
	_wc_end=$(($(date +%s) + ${2:-300}))
	while :; do
		_wc_ev=$(dmsetup info -c --noheadings -o events "$1") || fail "dmsetup info $1"
		_wc_st=$(backup_state "$1")
		case $_wc_st in
		completed) return 0 ;;
		running) ;;
		*) fail "$1: job ended '$_wc_st': $(dmsetup status "$1")" ;;
		esac
		[ "$(date +%s)" -lt "$_wc_end" ] ||
			fail "$1: not completed within ${2:-300}s: $(dmsetup status "$1")"
		timeout 30 dmsetup wait "$1" "$_wc_ev" >/dev/null
	done
}

# mirror_synced <name>: every region of the two-leg mirror is in sync
# (status: "... 2 <leg> <leg> <in-sync>/<regions> ...").
mirror_synced() {
	dmsetup status "$1" | awk '{ split($7, r, "/"); exit !(r[1] == r[2] && r[2] > 0) }'
}

# wait_mirror_synced <name> <timeout_s>: poll (dm-mirror raises no event
# when its resync ends) every 50 ms.
wait_mirror_synced() {
	_wm_end=$(($(date +%s) + $2))
	until mirror_synced "$1"; do
		[ "$(date +%s)" -lt "$_wm_end" ] ||
			fail "$1: not in sync within $2 s: $(dmsetup status "$1")"
		sleep 0.05
	done
}

# expect_running <name>: the job is still running (the walk was parked).
expect_running() {
	[ "$(backup_state "$1")" = running ] ||
		fail "$1: expected a running job: $(dmsetup status "$1")"
}

# snap_ok <snapshot name>: a snapshot that overflowed or was invalidated
# would make every number after it meaningless.
snap_ok() {
	_so=$(dmsetup status "$1")
	case $_so in
	*Invalid*|*Overflow*|*Merge\ failed*) fail "snapshot $1 broke: $_so" ;;
	esac
}

# fio_json <out.json> <fio args...>: run fio, check it, keep the JSON.
fio_json() {
	_fj_out=$1
	shift
	$FIO --output-format=json --output="$_fj_out" "$@" >"$_fj_out.log" 2>&1 ||
		fail "fio failed (rc=$?): $* : $(tail -n 5 "$_fj_out.log")"
	_fj_err=$($JQ -r '[.jobs[].error] | max' "$_fj_out") || fail "bad fio JSON: $*"
	[ "$_fj_err" = 0 ] || fail "fio reported error $_fj_err: $*"
}
# fio_get <json> <jq filter on the write stats of the first (group) job>
fio_get() {
	$JQ -r ".jobs[0].write | $2" "$1" || fail "jq $2 on $1 failed"
}

# ---- kernel tracing ------------------------------------------------------------
TR=/sys/kernel/tracing
[ -d $TR/events ] || TR=/sys/kernel/debug/tracing
# trace_setup <tracer> <functions> [event]: trace only these functions (and
# the dm_backup event), buffer cleared, on.
trace_setup() {
	[ -w $TR/set_ftrace_filter ] || fail "no tracefs: cannot time kernel-side work"
	echo 0 >$TR/tracing_on
	echo nop >$TR/current_tracer
	echo "$2" >$TR/set_ftrace_filter ||
		fail "cannot trace '$2' (not in available_filter_functions?)"
	if [ "$1" = function_graph ]; then
		echo "$2" >$TR/set_graph_function || fail "set_graph_function"
		echo 1 >$TR/max_graph_depth || fail "max_graph_depth"
	fi
	echo "$1" >$TR/current_tracer || fail "no $1 tracer"
	if [ -n "${3:-}" ]; then
		echo 1 >$TR/events/dm_backup/$3/enable || fail "no trace event dm_backup/$3"
	fi
	echo >$TR/trace
	echo 1 >$TR/tracing_on
}
trace_off() {
	echo 0 >$TR/tracing_on
	echo nop >$TR/current_tracer
	echo >$TR/set_graph_function
	echo >$TR/set_ftrace_filter
	echo 0 >$TR/events/dm_backup/enable
	echo >$TR/trace
}
# ktrace_walk_s: seconds from backup_resume (the job starts) to the state
# change to completed, from the trace buffer's own timestamps.
ktrace_walk_s() {
	awk '{ for (i = 1; i <= NF; i++)
		if ($i ~ /^[0-9]+\.[0-9]+:$/) { ts = substr($i, 1, length($i) - 1); break } }
	     / backup_resume <-/ && r == "" { r = ts }
	     /dm_backup_state: .* running -> completed/ { c = ts }
	     END { if (r == "" || c == "") exit 1; printf "%.6f", c - r }' $TR/trace ||
		fail "trace lacks backup_resume or running -> completed: $(tail -n 3 $TR/trace)"
}

# ---- devices -----------------------------------------------------------------
mem_kib=$(awk '/MemTotal/ { print $2 }' /proc/meminfo)
info "bench: runs=$RUNS cases=$CASES walk=${WALK_MB}MiB rand=${RAND_MB}MiB brd=2x${BRD_MB}MiB" \
	"kernel=$(uname -r) cpus=$(nproc) mem=${mem_kib}KiB"
echo "DMBT-BENCH-INFO kernel $(uname -r)"
echo "DMBT-BENCH-INFO config runs=$RUNS cases=$CASES walk_mb=$WALK_MB rand_mb=$RAND_MB" \
	"cpus=$(nproc)"
mkbrd 2 "$BRD_MB" >/dev/null
[ -b $O ] && [ -b $B ] || fail "brd disks missing"
info "filling the origin ($WALK_MB MiB) with pseudo-random data"
fill_random $O 5 $((WALK_MB * 1048576))
# The backup/COW disk gets all its pages now, so no run pays brd's page
# allocation and no later run is cheaper than the first.
dd if=/dev/zero of=$B bs=1M count=$BRD_MB oflag=direct status=none || fail "zeroing $B"
drop_caches $O $B
grep -q '^brd ' /proc/modules || fail "brd not loaded"

# iologs for 4k random writes.  FIRST: one 4 KiB write into each 64 KiB
# chunk of the region, chunks in random order, at a random 4 KiB block
# inside the chunk, so every write is the first to its chunk (fio's own
# random offsets cannot do that: blockalign turns the random map off, and
# chunks would be hit twice).  MANY: CP_PASSES such passes, each in its own
# order, for dm-linear and the already-copied runs, which are much faster
# and need more writes for stable numbers.
CP_PASSES=8
mklog() {	# mklog <passes> <file> [chunks]
	{
		echo "fio version 2 iolog"
		echo "/dev/bench add"
		echo "/dev/bench open"
		_p=0
		while [ $_p -lt "$1" ]; do
			seq 0 $((${3:-$RAND_CHUNKS} - 1)) | shuf |
				awk -v s=$((7 + _p)) 'BEGIN { srand(s) }
				{ printf "/dev/bench write %d 4096\n",
					 $1 * 65536 + int(rand() * 16) * 4096 }'
			_p=$((_p + 1))
		done
		echo "/dev/bench close"
	} >"$2" || fail "cannot write the iolog $2"
	_ml_n=$(grep -c ' write ' "$2")
	[ "$_ml_n" = $(($1 * ${3:-$RAND_CHUNKS})) ] ||
		fail "iolog $2 has the wrong length"
}
FIRST_LOG=$DMBT_TMP/first.iolog
MANY_LOG=$DMBT_TMP/many.iolog
mklog 1 "$FIRST_LOG"
mklog $CP_PASSES "$MANY_LOG"
# Case 7: first writes into the first SLOW_CHUNKS chunks (64 MiB).
SLOW_CHUNKS=1024
SLOW_LOG=$DMBT_TMP/slow.iolog
mklog 1 "$SLOW_LOG" $SLOW_CHUNKS

# rand4k <dev> <qd> <key> [many|slow]: replay an iolog against dev, emit
# iops/lat/p99.
rand4k() {
	if [ "${4:-}" = many ]; then
		_log=$MANY_LOG _want=$((CP_PASSES * RAND_CHUNKS))
	elif [ "${4:-}" = slow ]; then
		_log=$SLOW_LOG _want=$SLOW_CHUNKS
	else
		_log=$FIRST_LOG _want=$RAND_CHUNKS
	fi
	fio_json "$DMBT_TMP/r.json" --name=r4k --ioengine=libaio --direct=1 \
		--iodepth="$2" --read_iolog="$_log" --replay_redirect="$1" \
		--lat_percentiles=1 --percentile_list=50:99
	_n=$(fio_get "$DMBT_TMP/r.json" .total_ios)
	[ "$_n" = "$_want" ] || fail "fio did $_n writes, not $_want ($3)"
	emit "$3.iops" "$(fio_get "$DMBT_TMP/r.json" .iops)"
	emit "$3.lat" "$(calc "$(fio_get "$DMBT_TMP/r.json" .lat_ns.mean) / 1000")"
	_p99=$(fio_get "$DMBT_TMP/r.json" '.lat_ns.percentile["99.000000"]')
	emit "$3.p99" "$(calc "$_p99 / 1000")"
}

# again_iops <dev> <qd>: case 2's passes over the recorded chunks (the
# many iolog) against dev; prints the IOPS, emits nothing.
again_iops() {
	fio_json "$DMBT_TMP/p.json" --name=p4k --ioengine=libaio --direct=1 \
		--iodepth="$2" --read_iolog="$MANY_LOG" --replay_redirect="$1"
	_n=$(fio_get "$DMBT_TMP/p.json" .total_ios)
	[ "$_n" = $((CP_PASSES * RAND_CHUNKS)) ] || fail "fio did $_n writes ($1, paired)"
	fio_get "$DMBT_TMP/p.json" .iops
}

# paired_again <qd>: the tracking job "bk", its record complete, against a
# dm-linear "lin" over the same origin, both live; TRACK_PAIRS pairs of
# passes in the order lin bk, bk lin, lin bk, ...  The IOPS of a TCG guest
# drift by tens of percent within a run; two passes next to each other see
# the same drift, so each pair's ratio judges a 3 % difference where
# medians of passes seconds apart cannot.  Emits the median pair ratio.
TRACK_PAIRS=6
paired_again() {
	dm_create lin "0 $RAND_SZ linear $O 0"
	_pr=
	_i=0
	while [ $_i -lt $TRACK_PAIRS ]; do
		if [ $((_i % 2)) = 0 ]; then
			_l=$(again_iops /dev/mapper/lin "$1") || exit 1
			_b=$(again_iops /dev/mapper/bk "$1") || exit 1
		else
			_b=$(again_iops /dev/mapper/bk "$1") || exit 1
			_l=$(again_iops /dev/mapper/lin "$1") || exit 1
		fi
		_pr="$_pr $(calc "$_b / $_l")"
		_i=$((_i + 1))
	done
	dm_remove lin
	emit track.paired.qd$1.ratio "$(echo "$_pr" | tr ' ' '\n' | sed '/^$/d' |
		sort -n | awk '{ v[NR] = $1 } END {
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
}

# seq1m <dev> <key>: 1 MiB sequential writes over the region, emit MB/s.
seq1m() {
	fio_json "$DMBT_TMP/s.json" --name=s1m --filename="$1" --ioengine=libaio \
		--direct=1 --iodepth=1 --rw=write --bs=1M --size=${RAND_MB}M
	emit "$2.mbs" "$(calc "$(fio_get "$DMBT_TMP/s.json" .bw_bytes) / 1000000")"
}

# Device setups for cases 2 and 3; each prints the device to write to.
# snapshot.rst: snapshot-origin over the origin, the snapshot (COW on $B)
# loaded while the snapshot-origin is suspended.
setup_linear() { dm_create lin "0 $RAND_SZ linear $O 0"; echo /dev/mapper/lin; }
setup_snap() {	# N|P [cow device]
	_cow=${2:-$B}
	if [ "$1" = P ]; then
		# A fresh persistent store: no valid header from the last run.
		dd if=/dev/zero of=$B bs=64k count=4 oflag=direct status=none ||
			fail "zeroing COW header"
	fi
	dm_create so "0 $RAND_SZ snapshot-origin $O"
	dmsetup suspend so || fail "suspend so"
	dm_create sn "0 $RAND_SZ snapshot $O $_cow $1 128"
	dmsetup resume so || fail "resume so"
	echo /dev/mapper/so
}
setup_bk() {	# [backup device]; speed 1: the walk copies its first copy and then sleeps
	dm_create bk "0 $WALK_SZ backup $O ${1:-$B} full 2 speed 1"
	echo /dev/mapper/bk
}

# Case 9: the metadata device of a persistent job sits on the backup disk,
# past the walk region (as dm-snapshot P keeps its metadata on its COW).
META_SZ=8192
setup_bk_meta() {	# <origin> <backup> <meta> [<len>]
	dd if=/dev/zero of="$3" bs=4096 count=2 oflag=direct status=none ||
		fail "zeroing the metadata"
	dm_create bk "0 ${4:-$WALK_SZ} backup $1 $2 full 4 speed 1 meta $3"
	echo /dev/mapper/bk
}
# writes_of <dev>: write requests completed by a block device.
writes_of() {
	# /dev/mapper/X is a plain node here (no udev): find it by number.
	_wo_n=$(stat -L -c '%t %T' "$1") || fail "stat $1"
	# shellcheck disable=SC2086 # word splitting wanted
	set -- $_wo_n
	awk '{ print $5 }' "/sys/dev/block/$((0x$1)):$((0x$2))/stat" ||
		fail "no stat for $1"
}
# fio_lat_us <key> <fio args...>: one qd1 pattern, emit its mean latency.
fio_lat_us() {
	_fl_key=$1
	shift
	fio_json "$DMBT_TMP/f.json" --name=f --ioengine=libaio --direct=1 \
		--iodepth=1 "$@"
	# One side is 0; fdatasync's time is reported apart from the write's.
	_fl_ns=$($JQ '.jobs[0] | .read.lat_ns.mean + .write.lat_ns.mean +
		(.sync.lat_ns.mean // 0)' "$DMBT_TMP/f.json") || fail "jq on fio output"
	emit "$_fl_key" "$(calc "$_fl_ns / 1000")"
}
# first_writes_persistent <tag> <origin> <backup> <meta> <snap cow>: qd1 and
# qd16 first 4k writes (SLOW_LOG: 1024 chunks) on dm-snapshot P, the
# volatile job and the persistent job over the same devices.
first_writes_persistent() {
	for qd in 1 16; do
		info "case 9 ($1): qd$qd dm-snapshot P"
		dd if=/dev/zero of="$5" bs=64k count=4 oflag=direct status=none ||
			fail "zeroing COW header"
		dm_create so "0 $RAND_SZ snapshot-origin $2"
		dmsetup suspend so || fail "suspend so"
		dm_create sn "0 $RAND_SZ snapshot $2 $5 P 128"
		dmsetup resume so || fail "resume so"
		rand4k /dev/mapper/so $qd pers.$1.snapP.qd$qd slow
		snap_ok sn
		dm_remove sn so
		info "case 9 ($1): qd$qd dm-backup volatile"
		dm_create bk "0 $RAND_SZ backup $2 $3 full 2 speed 1"
		rand4k /dev/mapper/bk $qd pers.$1.bk.qd$qd slow
		expect_running bk
		dm_remove bk
		info "case 9 ($1): qd$qd dm-backup persistent"
		w0=$(writes_of "$4")
		setup_bk_meta "$2" "$3" "$4" "$RAND_SZ" >/dev/null
		rand4k /dev/mapper/bk $qd pers.$1.bkP.qd$qd slow
		expect_running bk
		dm_remove bk
		emit pers.$1.bkP.qd$qd.metaw "$(($(writes_of "$4") - w0))"
	done
	# The floor of a persistent first write: the chunk's read, its durable
	# backup write, a commit (a bitmap block and a superblock, flushed),
	# the 4k write itself; each alone at qd1 on the same devices.
	fio_lat_us pers.$1.floor.read "--filename=$2" --rw=randread --bs=64k \
		--size=64M --number_ios=256
	fio_lat_us pers.$1.floor.bwrite "--filename=$3" --rw=randwrite --bs=64k \
		--size=64M --number_ios=256 --fdatasync=1
	fio_lat_us pers.$1.floor.commit "--filename=$4" --rw=randwrite --bs=4k \
		--size=4M --number_ios=256 --fdatasync=1
	fio_lat_us pers.$1.floor.write "--filename=$2" --rw=randwrite --bs=4k \
		--size=64M --number_ios=256
}

# Case 10: a tracking job over the random-write region whose copy is done
# (its metadata on a slice of the backup disk past the walk region), so
# that writes only meet the record.
setup_tracker() {	# prints the device
	dd if=/dev/zero of=/dev/mapper/bmeta bs=4096 count=2 oflag=direct status=none ||
		fail "zeroing the metadata"
	dm_create bk "0 $RAND_SZ backup $O $B full 4 meta /dev/mapper/bmeta track on"
	wait_completed bk 600
	echo /dev/mapper/bk
}
# dm-era over the origin, its metadata on the next slice of the backup disk.
setup_era() {	# prints the device
	dd if=/dev/zero of=/dev/mapper/emeta bs=64k count=4 oflag=direct status=none ||
		fail "zeroing era's metadata"
	dm_create era "0 $RAND_SZ era /dev/mapper/emeta $O 128"
	echo /dev/mapper/era
}
# increment_1t: a tracking job over 1 TiB (dm-zero origin and backup, sync
# mode top with an empty map: it completes at once), then the time from
# loading its increment to the increment's completion; nothing to copy,
# so this is the cost of the switch: a 2 MiB record read, 4 MiB of
# bitmaps written, the walk over 16 Mi chunks of set bits.
increment_1t() {
	_t1=$((1 << 31))	# sectors
	dd if=/dev/zero of="$DMBT_TMP/map1t" bs=1M count=2 status=none || fail "map file"
	_map=$(losetup --show -f "$DMBT_TMP/map1t") || fail "losetup"
	dm_create z1 "0 $_t1 zero"
	dm_create z2 "0 $_t1 zero"
	dd if=/dev/zero of=/dev/mapper/imeta bs=4096 count=2 oflag=direct status=none ||
		fail "zeroing the metadata"
	_zz="/dev/mapper/z1 /dev/mapper/z2"
	dm_create bk "0 $_t1 backup $_zz top 6 map $_map meta /dev/mapper/imeta track on"
	wait_completed bk 600
	_uuid=$(backup_status bk job_uuid)
	t0=$(now)
	dmsetup load bk --table \
		"0 $_t1 backup $_zz top 6 meta /dev/mapper/imeta track on increment $_uuid" ||
		fail "load the increment"
	dmsetup suspend bk && dmsetup resume bk || fail "switch to the increment"
	wait_completed bk 600
	t1=$(now)
	[ "$(bk_total bk)" = 0 ] || fail "the increment copies $(bk_total bk) chunks"
	emit track.inc1t.s "$(secs "$t0" "$t1")"
	dm_remove bk z1 z2
	losetup -d "$_map"
}

T_BENCH0=$(now)
RUN=1
while [ $RUN -le "$RUNS" ]; do
	info "=== run $RUN of $RUNS"

	# ---- case 1: walk throughput vs dd ------------------------------------------
	if has_case 1; then
		info "case 1: dd ${WALK_MB} MiB"
		t0=$(now)
		/usr/bin/dd if=$O of=$B bs=1M count="$WALK_MB" iflag=direct oflag=direct \
			status=none ||
			fail "dd failed"
		t1=$(now)
		emit walk.dd.mbs "$(calc "$WALK_MB * 1.048576 / $(secs "$t0" "$t1")")"
		for cs in 128 512 2048; do
			info "case 1: walk chunk_size $cs"
			trace_setup function backup_resume dm_backup_state
			t0=$(now)
			dm_create bk "0 $WALK_SZ backup $O $B full 2 chunk_size $cs"
			wait_completed bk 600
			t1=$(now)
			s=$(secs "$t0" "$t1")
			ks=$(ktrace_walk_s) || exit 1
			trace_off
			emit walk.cs$cs.ks "$ks"
			emit walk.cs$cs.kmbs "$(calc "$WALK_MB * 1.048576 / $ks")"
			[ "$(bk_copied bk)" = "$(bk_total bk)" ] ||
				fail "completed but not all copied: $(backup_status bk)"
			dm_remove bk
			emit walk.cs$cs.s "$s"
			emit walk.cs$cs.mbs "$(calc "$WALK_MB * 1.048576 / $s")"
		done
	fi

	# ---- case 8: a walk by kcopyd: dm-mirror's resync ------------------------------
	# dm-raid1 copies leg 0 to leg 1 region by region with dm-kcopyd when a
	# mirror without a persistent log is created: the in-tree walk over a
	# device by kcopyd, on the same disks as case 1's walk.
	if has_case 8; then
		for rs in 128 2048; do
			info "case 8: dm-mirror resync, region_size $rs"
			t0=$(now)
			dm_create mir "0 $WALK_SZ mirror core 1 $rs 2 $O 0 $B 0"
			wait_mirror_synced mir 600
			t1=$(now)
			dm_remove mir
			s=$(secs "$t0" "$t1")
			emit kcopyd.rs$rs.s "$s"
			emit kcopyd.rs$rs.mbs "$(calc "$WALK_MB * 1.048576 / $s")"
		done
	fi

	# ---- case 9: persistent jobs ---------------------------------------------------
	if has_case 9; then
		dm_create bmeta "0 $META_SZ linear $B $WALK_SZ"
		info "case 9: walk without and with meta"
		for m in none meta; do
			# Zeroed before the clock starts: a new job's metadata.
			dd if=/dev/zero of=/dev/mapper/bmeta bs=4096 count=2 \
				oflag=direct status=none || fail "zeroing the metadata"
			w0=$(writes_of /dev/mapper/bmeta)
			t0=$(now)
			if [ $m = meta ]; then
				dm_create bk "0 $WALK_SZ backup $O $B full 2 meta /dev/mapper/bmeta"
			else
				dm_create bk "0 $WALK_SZ backup $O $B full"
			fi
			wait_completed bk 600
			t1=$(now)
			dm_remove bk
			emit pers.walk.$m.s "$(secs "$t0" "$t1")"
			emit pers.walk.$m.mbs "$(calc "$WALK_MB * 1.048576 / $(secs "$t0" "$t1")")"
			emit pers.walk.$m.metaw_gib \
				"$(calc "($(writes_of /dev/mapper/bmeta) - $w0) * 1024 / $WALK_MB")"
		done
		first_writes_persistent brd $O $B /dev/mapper/bmeta $B
		dm_remove bmeta
		# null_blk, memory backed, completions after a timer: NVMe-like
		# (20 us) and disk-like (2 ms); origin, backup and metadata.
		for lat in nvme:20000 disk:2000000; do
			modprobe null_blk nr_devices=3 memory_backed=1 irqmode=2 \
				completion_nsec=${lat#*:} gb=1 bs=4096 ||
				fail "modprobe null_blk"
			fill_random /dev/nullb0 9 $((SLOW_CHUNKS * 65536))
			first_writes_persistent ${lat%%:*} /dev/nullb0 /dev/nullb1 \
				/dev/nullb2 /dev/nullb1
			rmmod null_blk || fail "rmmod null_blk"
		done
	fi

	# ---- case 10: change tracking --------------------------------------------------
	if has_case 10; then
		dm_create bmeta "0 $META_SZ linear $B $WALK_SZ"
		dm_create emeta "0 $META_SZ linear $B $((WALK_SZ + META_SZ))"
		dm_create imeta "0 $((4 * META_SZ)) linear $B $((WALK_SZ + 2 * META_SZ))"
		for qd in 1 16; do
			info "case 10: qd$qd dm-linear"
			dev=$(setup_linear) || exit 1
			rand4k "$dev" $qd track.linear.qd$qd many
			dm_remove lin
			info "case 10: qd$qd dm-era: first writes, then written blocks"
			dev=$(setup_era) || exit 1
			rand4k "$dev" $qd track.era.qd$qd
			rand4k "$dev" $qd track.era_again.qd$qd many
			dm_remove era
			info "case 10: qd$qd tracking job: first writes, then recorded chunks"
			dev=$(setup_tracker) || exit 1
			w0=$(writes_of /dev/mapper/bmeta)
			rand4k "$dev" $qd track.first.qd$qd
			emit track.first.qd$qd.metaw "$(($(writes_of /dev/mapper/bmeta) - w0))"
			rand4k "$dev" $qd track.again.qd$qd many
			[ "$(backup_status bk changed)" = "$RAND_CHUNKS" ] ||
				fail "record: $(backup_status bk changed) chunks, not $RAND_CHUNKS"
			info "case 10: qd$qd recorded chunks, paired with dm-linear"
			paired_again $qd
			dm_remove bk
		done
		info "case 10: an increment that copies nothing, 1 TiB"
		increment_1t
		dm_remove imeta emeta bmeta
	fi

	# ---- case 2: 4k random writes ------------------------------------------------
	if has_case 2; then
		for qd in 1 16; do
			info "case 2: qd$qd dm-linear"
			dev=$(setup_linear) || exit 1
			rand4k "$dev" $qd r4k.linear.qd$qd many
			dm_remove lin

			for t in N P; do
				info "case 2: qd$qd dm-snapshot $t: first writes, then copied"
				dev=$(setup_snap $t) || exit 1
				rand4k "$dev" $qd r4k.snap$t.qd$qd
				snap_ok sn
				rand4k "$dev" $qd r4k.snap${t}_cp.qd$qd many
				snap_ok sn
				dm_remove sn so
			done

			info "case 2: qd$qd dm-backup: first writes, copied (running), completed"
			dev=$(setup_bk) || exit 1
			c0=$(bk_copied bk)
			rand4k "$dev" $qd r4k.bk.qd$qd
			expect_running bk
			# Writes return once their chunk is read; the last
			# copies may still be landing.
			wait_cbw bk $((RAND_CHUNKS - c0)) 60
			emit r4k.bk_walkcopied.qd$qd "$c0"
			rand4k "$dev" $qd r4k.bk_cp.qd$qd many
			expect_running bk
			dmsetup message bk 0 speed 0 || fail "speed 0"
			wait_completed bk 120
			rand4k "$dev" $qd r4k.bk_done.qd$qd many
			dm_remove bk
		done
	fi

	# ---- case 3: 1 MiB sequential first writes -------------------------------------
	if has_case 3; then
		info "case 3: 1 MiB sequential, dm-linear"
		dev=$(setup_linear) || exit 1
		seq1m "$dev" seq.linear
		dm_remove lin
		for t in N P; do
			info "case 3: 1 MiB sequential, dm-snapshot $t"
			dev=$(setup_snap $t) || exit 1
			seq1m "$dev" seq.snap$t
			snap_ok sn
			dm_remove sn so
		done
		info "case 3: 1 MiB sequential, dm-backup (walk parked)"
		dev=$(setup_bk) || exit 1
		seq1m "$dev" seq.bk
		expect_running bk
		dm_remove bk
	fi

	# ---- case 7: first writes, slow backup device ----------------------------------
	# The backup (COW) device is remote or slow in real life: dm-delay
	# holds every write to it for 1 ms.  dm-snapshot's first write waits
	# for its COW write; dm-backup's waits for the origin read only.
	if has_case 7; then
		dm_create slowb "0 $(sectors $B) delay $B 0 0 $B 0 1"
		for qd in 1 16; do
			info "case 7: qd$qd dm-snapshot N over a slow COW device"
			dev=$(setup_snap N /dev/mapper/slowb) || exit 1
			rand4k "$dev" $qd slow.snapN.qd$qd slow
			snap_ok sn
			dm_remove sn so
			info "case 7: qd$qd dm-backup over a slow backup device"
			dev=$(setup_bk /dev/mapper/slowb) || exit 1
			c0=$(bk_copied bk)
			rand4k "$dev" $qd slow.bk.qd$qd slow
			expect_running bk
			wait_cbw bk $((SLOW_CHUNKS - c0)) 120
			dm_remove bk
		done
		dm_remove slowb
	fi

	# ---- case 4: writes during an unthrottled walk ---------------------------------
	# fio runs on "vol" (dm-linear over the origin) the whole time; the
	# backup table is swapped in under it like in the documentation's LVM
	# example, so the walk and the workload start together.  IOPS come
	# from the dm device's own write counter over each window.
	if has_case 4; then
		info "case 4: 4k randwrite qd16 on vol: linear, then the walk, then after it"
		dm_create vol "0 $WALK_SZ linear $O 0"
		$FIO --name=bg --filename=/dev/mapper/vol --ioengine=libaio --direct=1 \
			--iodepth=16 --rw=randwrite --bs=4k --size=${WALK_MB}M --norandommap \
			--randrepeat=0 --time_based --runtime=600 >"$DMBT_TMP/bg.log" 2>&1 &
		fpid=$!
		w=$(writes_done vol)
		end=$(($(date +%s) + 60))
		while [ "$(writes_done vol)" -le $((w + 100)) ]; do
			kill -0 $fpid 2>/dev/null || fail "fio died: $(cat "$DMBT_TMP/bg.log")"
			[ "$(date +%s)" -lt "$end" ] || fail "fio issued no writes within 60s"
			sleep 0.2
		done
		sleep 1
		w0=$(writes_done vol); t0=$(now)
		sleep 4
		w1=$(writes_done vol); t1=$(now)
		emit during.linear.iops "$(calc "($w1 - $w0) / $(secs "$t0" "$t1")")"
		dmsetup suspend vol || fail "suspend vol"
		dmsetup load vol --table "0 $WALK_SZ backup $O $B full" || fail "load backup table"
		w2=$(writes_done vol); t2=$(now)
		dmsetup resume vol || fail "resume vol"
		wait_completed vol 600
		w3=$(writes_done vol); t3=$(now)
		s=$(secs "$t2" "$t3")
		emit during.walk.s "$s"
		emit during.walk.mbs "$(calc "$WALK_MB * 1.048576 / $s")"
		emit during.walk.iops "$(calc "($w3 - $w2) / $s")"
		emit during.cbw_chunks "$(backup_status vol cbw_chunks)"
		sleep 1
		w4=$(writes_done vol); t4=$(now)
		sleep 4
		w5=$(writes_done vol); t5=$(now)
		emit during.after.iops "$(calc "($w5 - $w4) / $(secs "$t4" "$t5")")"
		kill -0 $fpid 2>/dev/null ||
			fail "fio died during case 4: $(cat "$DMBT_TMP/bg.log")"
		kill $fpid
		wait $fpid
		grep -q 'err= *[1-9]' "$DMBT_TMP/bg.log" &&
			fail "fio saw I/O errors: $(cat "$DMBT_TMP/bg.log")"
		dm_remove vol
	fi

	# ---- case 5: throttle accuracy ---------------------------------------------------
	if has_case 5; then
		for mib in 8 32 64; do
			[ $((mib * 11)) -lt "$WALK_MB" ] ||
				fail "walk region too small for $mib MiB/s over 10 s"
			info "case 5: speed $mib MiB/s"
			dm_create bk "0 $WALK_SZ backup $O $B full 2 speed $((mib * 1048576))"
			sleep 1
			c0=$(bk_copied bk); t0=$(now)
			sleep 10
			c1=$(bk_copied bk); t1=$(now)
			expect_running bk
			cs=$(backup_status bk chunk_sectors)
			dm_remove bk
			r=$(calc "($c1 - $c0) * $cs * 512 / $(secs "$t0" "$t1") / 1048576")
			emit thr.$mib.mibs "$r"
			emit thr.$mib.ratio "$(calc "$r / $mib")"
		done
	fi

	# ---- case 6: scale ---------------------------------------------------------------------
	if has_case 6; then
		info "case 6: constructor time and memory vs origin size" \
		     "(dm-zero origin, thin backup)"
		T16=$((16 << 31))	# 16 TiB in sectors
		if [ $RUN = 1 ]; then
			meta=$(mkloop 64) || exit 1
			data=$(mkloop 256) || exit 1
			dd if=/dev/zero of="$meta" bs=4k count=1 oflag=direct status=none ||
				fail "zeroing thin metadata"
			dm_create zo "0 $T16 zero"
			dm_create pool \
				"0 $((256 * 2048)) thin-pool $meta $data 128 0 1 skip_block_zeroing"
			dmsetup message pool 0 "create_thin 0" || fail "create_thin"
			dm_create thin "0 $T16 thin /dev/mapper/pool 0"
		fi
		# The kernel side of construction, without dmsetup's process
		# start (tens of ms under TCG): function_graph on the target's
		# ctr and (pre)resume, depth 1.
		trace_setup function_graph "backup_ctr backup_preresume backup_resume"
		echo 0 >$TR/tracing_on
		# traced_us <function>: its duration in the trace buffer, µs.
		traced_us() {
			awk -v f="$1" 'index($0, " " f) && / us / {
				for (i = 1; i < NF; i++) if ($(i + 1) == "us") { print $i; n++ } }
				END { if (n != 1) exit 1 }' $TR/trace ||
				fail "expected one traced call of $1:" \
				     "$(grep -c "$1" $TR/trace) found"
		}
		for size in 1G 1T 16T; do
			case $size in
			1G)  n=$((1 << 21)) ;;
			1T)  n=$((1 << 31)) ;;
			16T) n=$T16 ;;
			esac
			# Baseline: what a trivial dmsetup create costs here.
			t0=$(now)
			dm_create zb "0 $n zero"
			t1=$(now)
			dm_remove zb
			emit ctr.zero.$size.ms "$(calc "$(secs "$t0" "$t1") * 1000")"

			sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.5
			set -- $(meminfo); f0=$1 s0=$2 u0=$3 v0=$4
			echo >$TR/trace; echo 1 >$TR/tracing_on
			t0=$(now)
			dm_create bk "0 $n backup /dev/mapper/zo /dev/mapper/thin full 2 speed 1"
			t1=$(now)
			echo 0 >$TR/tracing_on
			sleep 1
			set -- $(meminfo)
			expect_running bk
			emit ctr.bk.$size.ms "$(calc "$(secs "$t0" "$t1") * 1000")"
			emit ctr.k.$size.ms "$(calc "$(traced_us backup_ctr) / 1000")"
			_us=$(($(traced_us backup_preresume) + $(traced_us backup_resume)))
			emit resume.k.$size.ms "$(calc "$_us / 1000")"
			emit mem.$size.free "$((f0 - $1))"
			emit mem.$size.slab "$(($2 - s0))"
			emit mem.$size.sunrec "$(($3 - u0))"
			emit mem.$size.vmalloc "$(($4 - v0))"
			dm_remove bk
		done

		# Writes piling up behind copies: the backup device behind dm-delay
		# (writes 500 ms), 4 x 256 writes in flight to mostly uncopied
		# chunks.  Baseline: the same fio on a dm-delay device directly.
		for kind in base bk; do
			if [ $kind = bk ]; then
				dm_create dly "0 $WALK_SZ delay $B 0 0 $B 0 500"
				dm_create bk "0 $WALK_SZ backup $O /dev/mapper/dly full 2 speed 1"
				dev=/dev/mapper/bk
			else
				dm_create dly "0 $WALK_SZ delay $O 0 0 $O 0 500"
				dev=/dev/mapper/dly
			fi
			info "case 6: memory with 1024 writes in flight ($kind)"
			sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.5
			set -- $(meminfo); f0=$1 s0=$2 u0=$3
			$FIO --name=pile --filename=$dev --ioengine=libaio --direct=1 \
				--iodepth=256 --numjobs=4 --group_reporting --rw=randwrite \
				--bs=4k --size=${WALK_MB}M --norandommap --randrepeat=0 \
				--time_based --runtime=8 --output-format=json \
				--output="$DMBT_TMP/pile.json" >"$DMBT_TMP/pile.log" 2>&1 &
			fpid=$!
			fmin=$f0 smax=$s0 umax=$u0
			i=0
			while kill -0 $fpid 2>/dev/null; do
				set -- $(meminfo)
				[ "$1" -lt "$fmin" ] && fmin=$1
				[ "$2" -gt "$smax" ] && smax=$2
				[ "$3" -gt "$umax" ] && umax=$3
				i=$((i + 1))
				[ $i -lt 300 ] || fail "fio (pile) did not end"
				sleep 0.5
			done
			wait $fpid ||
				fail "fio (pile, $kind) failed: $(tail -n 5 "$DMBT_TMP/pile.log")"
			[ "$($JQ -r '[.jobs[].error] | max' "$DMBT_TMP/pile.json")" = 0 ] ||
				fail "fio (pile) error"
			emit pile.$kind.free "$((f0 - fmin))"
			emit pile.$kind.slab "$((smax - s0))"
			emit pile.$kind.sunrec "$((umax - u0))"
			emit pile.$kind.iops "$(fio_get "$DMBT_TMP/pile.json" .iops)"
			if [ $kind = bk ]; then
				expect_running bk
				emit pile.bk.cbw "$(backup_status bk cbw_chunks)"
				dm_remove bk
			fi
			dm_remove dly
		done
		trace_off
		if [ "$RUN" = "$RUNS" ]; then
			dm_remove thin pool zo
		fi
	fi
	RUN=$((RUN + 1))
done
echo "DMBT-BENCH-INFO guest_seconds $(secs "$T_BENCH0" "$(now)")"
info "bench: done"
dmbt_cleanup || fail "cleanup failed"
exit 0
