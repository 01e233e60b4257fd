#!/bin/bash
# Driver behind `make bench`: the dm-backup benchmark (issue 5).
#
#   tests/bench.sh [--kver <kver>|all]
#
# For each kernel: build dm-backup.ko, build an initramfs with fio (and jq,
# appended as a second cpio archive), boot one VM in dmbt.mode=bench, which
# runs tools/testing/selftests/dm-backup/bench.sh: every case on brd ram
# disks, each repeated BENCH_RUNS times.  The guest prints one
# "DMBT-BENCH <key> <run> <value>" line per measurement; this script takes
# median and min-max per key, prints a Markdown report and writes it to
# bench/results/<date>-<kver>-<shortcommit>.md.
#
# The benchmark informs, it is no test: nothing here is part of `make
# check`.  But it never prints made-up numbers: if the VM run fails or any
# measurement is missing, it exits non-zero and writes no report.
#
# Environment:
#   BENCH_RUNS     repetitions (3)          BENCH_CASES  e.g. 1,2,5 (1,2,...,10)
#   BENCH_WALK_MB  walk region, MiB (1024)  BENCH_RAND_MB random-write region (512)
#   DMBT_VM_MEM    guest MiB (4096)         DMBT_VM_SMP  vCPUs (2)
#   DMBT_VM_TIMEOUT  seconds (2400)
set -uo pipefail

KVER_ARG=
while [ $# -gt 0 ]; do
	case $1 in
	--kver) KVER_ARG=$2; shift 2 ;;
	*) echo "usage: $0 [--kver K|all]" >&2; exit 2 ;;
	esac
done
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1

RUNS=${BENCH_RUNS:-3}
CASES=${BENCH_CASES:-1,2,3,4,5,6,7,8,9,10}
WALK_MB=${BENCH_WALK_MB:-1024}
RAND_MB=${BENCH_RAND_MB:-512}
export DMBT_VM_MEM=${DMBT_VM_MEM:-4096}
export DMBT_VM_SMP=${DMBT_VM_SMP:-2}
export DMBT_VM_TIMEOUT=${DMBT_VM_TIMEOUT:-2400}
case "$RUNS$WALK_MB$RAND_MB" in *[!0-9]*|'') echo "bench: bad BENCH_RUNS/_MB" >&2; exit 2 ;; esac
case $CASES in *[!0-9,]*|'') echo "bench: bad BENCH_CASES '$CASES'" >&2; exit 2 ;; esac

die() { echo "bench: ERROR: $*" >&2; exit 1; }

tests/install-deps.sh || die "installing dependencies failed"
command -v fio >/dev/null || die "fio is not installed on the host (tests/install-deps.sh)"
if ! command -v jq >/dev/null; then
	apt-get install -y -q jq >/dev/null || die "jq is missing and could not be installed"
fi

. "$TOP/tests/kernels.sh"
case $KVER_ARG in
"")  KVERS=$(newest_kver 6.1) ;;
all) KVERS="$(newest_kver 6.1) $(newest_kver 6.12)" ;;
*)   KVERS=$KVER_ARG ;;
esac
KVERS=$(echo $KVERS)
[ -n "$KVERS" ] || die "no kernel found in /boot"

# append_jq <initramfs.cpio.gz>: a second (concatenated) archive with jq and
# its libraries; the kernel unpacks both.
append_jq() {
	local root f
	root=$(mktemp -d /tmp/dmbt-bench-jq.XXXXXX)
	for f in /usr/bin/jq $(ldd /usr/bin/jq | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
		gzip -1 >>"$1"
	local rc=$?
	rm -rf "$root"
	return $rc
}

# ---- report ------------------------------------------------------------------
# stats <console.log> <stats file>: "key median min max n" per key.
stats() {
	sed -n 's/^DMBT-BENCH \([^ ]*\) \([0-9]*\) \([^ ]*\)$/\1 \3/p' "$1" | sort -k1,1 -s |
	awk '
	function flush(   i, j, t, med) {
		if (key == "") return
		for (i = 2; i <= n; i++)	# insertion sort, n is tiny
			for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "%s %.6g %.6g %.6g %d\n", key, med, v[1], v[n], n
	}
	$1 != key { flush(); key = $1; n = 0 }
	{ v[++n] = $2 + 0 }
	END { flush() }' >"$2"
}

declare -A MED MIN MAX CNT
MISSING=()
load_stats() {
	local k m lo hi n
	MED=() MIN=() MAX=() CNT=()
	while read -r k m lo hi n; do
		MED[$k]=$m MIN[$k]=$lo MAX[$k]=$hi CNT[$k]=$n
	done <"$1"
}
# need <key>: the key must have one value per run.
need() {
	if [ -z "${MED[$1]:-}" ]; then
		MISSING+=("$1 (no value)")
	elif [ "${CNT[$1]}" != "$RUNS" ]; then
		MISSING+=("$1 (${CNT[$1]} of $RUNS runs)")
	fi
}
# num <value>: a readable number.
num() {
	awk -v x="$1" 'BEGIN { a = x < 0 ? -x : x
		if (a >= 100) printf "%.0f", x; else if (a >= 10) printf "%.1f", x
		else if (a >= 1) printf "%.2f", x; else printf "%.3f", x }'
}
# cell <key>: "median (min–max)".
cell() {
	need "$1"
	[ -n "${MED[$1]:-}" ] || { echo "n/a"; return; }
	if [ "$RUNS" -gt 1 ]; then
		echo "$(num "${MED[$1]}") ($(num "${MIN[$1]}")–$(num "${MAX[$1]}"))"
	else
		num "${MED[$1]}"
	fi
}
med() { need "$1"; echo "${MED[$1]:-0}"; }
# ratio <keyA> <keyB>: medians A/B, e.g. "0.97x".
ratio() {
	local a b
	a=$(med "$1") b=$(med "$2")
	awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2fx", a / b }'
}
# verdict <value> <op> <limit>: "met" / "MISSED".
verdict() {
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? v >= l : (op == "<=") ? v <= l : (op == "<") ? v < l : \
		     (op == ">") ? v > l : 0
		print ok ? "met" : "**MISSED**" }'
}
fx() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
size_label() { case $1 in 1G) echo "1 GiB" ;; 1T) echo "1 TiB" ;; 16T) echo "16 TiB" ;; esac; }
has_case() { case ",$CASES," in *",$1,"*) return 0 ;; esac; return 1; }

# report <kver> <console.log> <wall seconds> <commit>
report() {
	local k=$1 log=$2 wall=$3 commit=$4 st qd c r q x y
	st=$(dirname "$log")/stats
	stats "$log" "$st"
	load_stats "$st"
	local gsec cfg
	gsec=$(sed -n 's/^DMBT-BENCH-INFO guest_seconds //p' "$log" | tail -n1)
	cfg=$(sed -n 's/^DMBT-BENCH-INFO config //p' "$log" | tail -n1)
	echo "# dm-backup benchmark: $k"
	echo
	echo "- kernel: $k (qemu TCG, ${DMBT_VM_SMP} vCPUs, ${DMBT_VM_MEM} MiB; host $(nproc) CPUs, load avg $LOADAVG at start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; other qemu VMs on the host at start: $OTHER_VMS)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- commit: $commit"
	echo "- config: $cfg; brd ram disks; every cell: median (min–max) over $RUNS runs"
	echo "- runtime: ${gsec%.*} s of benchmark in the guest, ${wall} s wall clock including build and boot"
	echo "- TCG is slow and noisy: only ratios between rows mean something."
	echo
	if has_case 1; then
		echo "## 1. Walk throughput, unthrottled, idle origin (${WALK_MB} MiB, dmsetup create to \`completed\`)"
		echo
		echo "*MB/s*: from \`dmsetup create\` to \`completed\` seen by \`dmsetup wait\` (includes ~70 ms of dmsetup process overhead under TCG); *kernel*: from backup_resume to the running -> completed trace event (ftrace timestamps)."
		echo
		echo "| copy | MB/s | vs dd | kernel MB/s | kernel vs dd |"
		echo "|---|---|---|---|---|"
		echo "| dd bs=1M iflag=direct oflag=direct | $(cell walk.dd.mbs) | 1.00x | | |"
		for c in 128:64 512:256 2048:1024; do
			echo "| dm-backup chunk_size ${c%%:*} (${c#*:} KiB) | $(cell walk.cs${c%%:*}.mbs) | $(ratio walk.cs${c%%:*}.mbs walk.dd.mbs) | $(cell walk.cs${c%%:*}.kmbs) | $(ratio walk.cs${c%%:*}.kmbs walk.dd.mbs) |"
		done
		echo
	fi
	if has_case 8; then
		echo "## 8. A walk by dm-kcopyd: dm-mirror's resync (${WALK_MB} MiB, the same brd disks as case 1)"
		echo
		echo "\`mirror core 1 <region_size> 2 origin 0 backup 0\`: dm-raid1 copies leg 0 to leg 1 region by region with dm-kcopyd (one region in flight at a time, dm-raid1's recovery policy), the in-tree walk over a device by kcopyd. From \`dmsetup create\` until \`dmsetup status\` shows every region in sync (polled every 50 ms); dm-backup: case 1's MB/s (same timing, \`completed\` seen by \`dmsetup wait\`)."
		echo
		echo "| copy unit | dm-mirror resync (kcopyd) MB/s | dm-backup walk MB/s | dm-backup vs kcopyd |"
		echo "|---|---|---|---|"
		for c in 128:64 2048:1024; do
			if has_case 1; then
				echo "| ${c#*:} KiB | $(cell kcopyd.rs${c%%:*}.mbs) | $(cell walk.cs${c%%:*}.mbs) | $(ratio walk.cs${c%%:*}.mbs kcopyd.rs${c%%:*}.mbs) |"
			else
				echo "| ${c#*:} KiB | $(cell kcopyd.rs${c%%:*}.mbs) | (case 1 not run) | |"
			fi
		done
		echo
	fi
	if has_case 2; then
		echo "## 2. 4k random writes (fio libaio, direct; one 4 KiB write into each 64 KiB chunk of ${RAND_MB} MiB, random order)"
		echo
		echo "dm-snapshot chunk size 128 sectors; dm-backup \`full 2 speed 1\` (walk parked). *first*: every write is the first to its chunk; *copied*: the same writes again (dm-backup: job still running, every chunk copied); *completed*: dm-backup after the job completed."
		echo
		for qd in 1 16; do
			echo "### queue depth $qd"
			echo
			echo "| target | IOPS | mean lat µs | p99 lat µs | IOPS vs linear | IOPS vs snap N | p99 vs linear |"
			echo "|---|---|---|---|---|---|---|"
			for r in "linear:dm-linear" "snapN:dm-snapshot N, first" "snapP:dm-snapshot P, first" \
				"bk:dm-backup, first" "snapN_cp:dm-snapshot N, copied" "snapP_cp:dm-snapshot P, copied" \
				"bk_cp:dm-backup, copied (running)" "bk_done:dm-backup, completed"; do
				q=r4k.${r%%:*}.qd$qd
				echo "| ${r#*:} | $(cell $q.iops) | $(cell $q.lat) | $(cell $q.p99) | $(ratio $q.iops r4k.linear.qd$qd.iops) | $(ratio $q.iops r4k.snapN.qd$qd.iops) | $(ratio $q.p99 r4k.linear.qd$qd.p99) |"
			done
			echo
			echo "(chunks the parked walk had copied before the first writes: $(cell r4k.bk_walkcopied.qd$qd))"
			echo
		done
	fi
	if has_case 3; then
		echo "## 3. 1 MiB sequential first writes (fio bs=1M, direct, iodepth 1, ${RAND_MB} MiB)"
		echo
		echo "| target | MB/s | vs linear | vs snap N |"
		echo "|---|---|---|---|"
		for r in "linear:dm-linear" "snapN:dm-snapshot N" "snapP:dm-snapshot P" "bk:dm-backup (walk parked)"; do
			echo "| ${r#*:} | $(cell seq.${r%%:*}.mbs) | $(ratio seq.${r%%:*}.mbs seq.linear.mbs) | $(ratio seq.${r%%:*}.mbs seq.snapN.mbs) |"
		done
		echo
	fi
	if has_case 7; then
		echo "## 7. First 4k random writes with a slow backup device (dm-delay: writes 1 ms, reads 0)"
		echo
		echo "One 4 KiB write into each of the first 1024 64 KiB chunks, random order. The COW device of dm-snapshot N and the backup device of dm-backup (\`full 2 speed 1\`, walk parked) is a dm-delay device over the same brd disk: a backup device is often remote (NBD, iSCSI) or slower than the origin. dm-snapshot's first write waits for its COW write; dm-backup's first write waits for the origin read only."
		echo
		echo "| queue depth | dm-snapshot N IOPS | mean lat µs | dm-backup IOPS | mean lat µs | dm-backup vs snap N |"
		echo "|---|---|---|---|---|---|"
		for qd in 1 16; do
			echo "| $qd | $(cell slow.snapN.qd$qd.iops) | $(cell slow.snapN.qd$qd.lat) | $(cell slow.bk.qd$qd.iops) | $(cell slow.bk.qd$qd.lat) | $(ratio slow.bk.qd$qd.iops slow.snapN.qd$qd.iops) |"
		done
		echo
	fi
	if has_case 9; then
		echo "## 9. Persistent jobs (\`meta\`)"
		echo
		echo "First 4k random writes, one into each of the first 1024 64 KiB chunks (case 7's iolog), on dm-snapshot P (persistent exception store on the COW device), the volatile job and the persistent job, all \`full 2 speed 1\` (walk parked), on three sets of devices: brd (metadata on a dm-linear slice of the backup disk), and null_blk (memory backed, timer completions) with NVMe-like (20 µs) and disk-like (2 ms) latency, origin, backup and metadata on three null_blk devices. *floor*: what a persistent first write must wait for at the least, each alone at qd1 on the same devices: a 64 KiB read of the origin, a 64 KiB write + fdatasync of the backup device, a 4 KiB write + fdatasync of the metadata device (a commit), the 4 KiB write; their sum. *meta writes*: write requests the metadata device completed during the 1024 first writes (group commit shares them)."
		echo
		echo "| devices | qd | dm-snapshot P IOPS | volatile IOPS | persistent IOPS | persistent vs snap P | persistent vs volatile | persistent mean lat µs | floor µs | lat / floor | meta writes |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
		for d in brd nvme disk; do
			floor=$(awk -v a="$(med pers.$d.floor.read)" -v b="$(med pers.$d.floor.bwrite)" \
				-v c="$(med pers.$d.floor.commit)" -v e="$(med pers.$d.floor.write)" \
				'BEGIN { print a + b + c + e }')
			for qd in 1 16; do
				lf=$(awk -v a="$(med pers.$d.bkP.qd$qd.lat)" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')
				echo "| $d | $qd | $(cell pers.$d.snapP.qd$qd.iops) | $(cell pers.$d.bk.qd$qd.iops) | $(cell pers.$d.bkP.qd$qd.iops) | $(ratio pers.$d.bkP.qd$qd.iops pers.$d.snapP.qd$qd.iops) | $(ratio pers.$d.bkP.qd$qd.iops pers.$d.bk.qd$qd.iops) | $(cell pers.$d.bkP.qd$qd.lat) | $(num "$floor") | ${lf}x | $(cell pers.$d.bkP.qd$qd.metaw) |"
			done
		done
		echo
		echo "Floor parts, µs (median): read / backup write+sync / commit / 4k write"
		echo
		for d in brd nvme disk; do
			echo "- $d: $(num "$(med pers.$d.floor.read)") / $(num "$(med pers.$d.floor.bwrite)") / $(num "$(med pers.$d.floor.commit)") / $(num "$(med pers.$d.floor.write)")"
		done
		echo
		echo "The walk over ${WALK_MB} MiB of brd, unthrottled, without and with \`meta\`:"
		echo
		echo "| job | MB/s | vs without meta | metadata writes per walked GiB |"
		echo "|---|---|---|---|"
		echo "| volatile | $(cell pers.walk.none.mbs) | 1.00x | $(cell pers.walk.none.metaw_gib) |"
		echo "| persistent | $(cell pers.walk.meta.mbs) | $(ratio pers.walk.meta.mbs pers.walk.none.mbs) | $(cell pers.walk.meta.metaw_gib) |"
		echo
	fi
	if has_case 10; then
		echo "## 10. Change tracking (\`track on\`)"
		echo
		echo "4k random writes over the ${RAND_MB} MiB region on brd (case 2's iologs): *first*: one write into each 64 KiB chunk, each chunk's first since the point in time (dm-era: since its era began, a fresh device); *again*: case 2's passes over the same chunks, all recorded by then. The tracking job's copy has completed (\`full\`, \`meta\` on a dm-linear slice of the backup disk, \`track on\`): writes only meet the record. dm-era (metadata on the next slice, 64 KiB blocks) is the in-kernel peer that records written blocks. *meta writes*: write requests the metadata device completed during the first writes."
		echo
		echo "| qd | dm-linear IOPS | dm-era first IOPS | tracking first IOPS | first vs dm-era | meta writes | dm-era again IOPS | tracking again IOPS | again vs dm-linear | again vs dm-linear, paired |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
		for qd in 1 16; do
			echo "| $qd | $(cell track.linear.qd$qd.iops) | $(cell track.era.qd$qd.iops) | $(cell track.first.qd$qd.iops) | $(ratio track.first.qd$qd.iops track.era.qd$qd.iops) | $(cell track.first.qd$qd.metaw) | $(cell track.era_again.qd$qd.iops) | $(cell track.again.qd$qd.iops) | $(ratio track.again.qd$qd.iops track.linear.qd$qd.iops) | $(cell track.paired.qd$qd.ratio)x |"
		done
		echo
		echo "*paired*: the tracking job and a dm-linear over the same origin, both live, passes over the recorded chunks alternating (linear, tracking; tracking, linear; ...); each run's median of the pairs' IOPS ratios. Passes next to each other share the guest's drift, which the medians of passes far apart do not."
		echo
		echo "An increment that copies nothing on a 1 TiB origin (dm-zero origin and backup device; the parent a \`top\` job with an empty map): from loading its table to its completion, $(cell track.inc1t.s) s."
		echo
	fi
	if has_case 4; then
		echo "## 4. 4k random writes (qd16, fio) during an unthrottled walk (${WALK_MB} MiB)"
		echo
		echo "fio runs on one dm device throughout: dm-linear, then the backup table is swapped in (suspend/load/resume) and the walk runs, then the job has completed. IOPS from the device's write counter per window."
		echo
		echo "| measure | value | ratio |"
		echo "|---|---|---|"
		echo "| IOPS, dm-linear (4 s before the walk) | $(cell during.linear.iops) | 1.00x |"
		echo "| IOPS while the walk runs | $(cell during.walk.iops) | $(ratio during.walk.iops during.linear.iops) of linear |"
		echo "| IOPS after the job completed (4 s) | $(cell during.after.iops) | $(ratio during.after.iops during.linear.iops) of linear |"
		echo "| walk time with the workload, s | $(cell during.walk.s) | |"
		echo "| walk MB/s with the workload | $(cell during.walk.mbs) | $(if has_case 1; then ratio during.walk.mbs walk.cs128.mbs; echo " of idle walk"; fi) |"
		has_case 1 && echo "| walk time idle (case 1, chunk_size 128), s | $(cell walk.cs128.s) | |"
		echo "| chunks copied by writes (cbw) during the walk | $(cell during.cbw_chunks) | |"
		echo
	fi
	if has_case 5; then
		echo "## 5. Throttle accuracy (walk rate over 10 s, from status copied chunks)"
		echo
		echo "| speed knob MiB/s | measured MiB/s | measured/knob |"
		echo "|---|---|---|"
		for x in 8 32 64; do
			echo "| $x | $(cell thr.$x.mibs) | $(cell thr.$x.ratio) |"
		done
		echo
	fi
	if has_case 6; then
		echo "## 6. Scale: constructor time and kernel memory (dm-zero origin, thin backup device, \`full 2 speed 1\`)"
		echo
		echo "*ctr* and *resume*: time spent in backup_ctr and in backup_preresume + backup_resume (ftrace function_graph). *dmsetup create*: the whole command (process start, create, load, resume); *zero*: the same for a plain dm-zero table, i.e. dmsetup's own cost here. Memory: /proc/meminfo before create vs 1 s after, KiB; MemFree moves in steps of MiBs for reasons of its own (per-CPU page lists), Slab + VmallocUsed is the precise part."
		echo
		echo "| origin | ctr ms | resume ms | dmsetup create ms | same, zero table | ΔSlab+ΔVmallocUsed KiB | ΔMemFree KiB | ΔSlab KiB | ΔSUnreclaim KiB | ΔVmallocUsed KiB |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
		for x in 1G 1T 16T; do
			y=$(awk -v a="$(med mem.$x.slab)" -v b="$(med mem.$x.vmalloc)" 'BEGIN { print a + b }')
			echo "| $(size_label $x) | $(cell ctr.k.$x.ms) | $(cell resume.k.$x.ms) | $(cell ctr.bk.$x.ms) | $(cell ctr.zero.$x.ms) | $(num "$y") | $(cell mem.$x.free) | $(cell mem.$x.slab) | $(cell mem.$x.sunrec) | $(cell mem.$x.vmalloc) |"
		done
		echo
		echo "Writes piling up behind copies: fio randwrite 4k, 4 jobs x iodepth 256, 8 s; dm-backup's backup device behind dm-delay (writes 500 ms); baseline: the same fio on a dm-delay device (writes 500 ms). Peak deltas vs before fio, KiB."
		echo
		echo "| device | IOPS | peak MemFree drop KiB | peak ΔSlab KiB | peak ΔSUnreclaim KiB |"
		echo "|---|---|---|---|---|"
		echo "| dm-delay alone | $(cell pile.base.iops) | $(cell pile.base.free) | $(cell pile.base.slab) | $(cell pile.base.sunrec) |"
		echo "| dm-backup over dm-delay | $(cell pile.bk.iops) | $(cell pile.bk.free) | $(cell pile.bk.slab) | $(cell pile.bk.sunrec) |"
		echo
	fi

	echo "## Targets (issue 5)"
	echo
	echo "| target | measured (medians) | verdict |"
	echo "|---|---|---|"
	if has_case 1; then
		for c in 128 512 2048; do
			x=$(awk -v a="$(med walk.cs$c.mbs)" -v b="$(med walk.dd.mbs)" 'BEGIN { print a / b }')
			echo "| walk >= 95% of dd (chunk_size $c) | $(fx "$x")x | $(verdict "$x" ">=" 0.95) |"
			x=$(awk -v a="$(med walk.cs$c.kmbs)" -v b="$(med walk.dd.mbs)" 'BEGIN { print a / b }')
			echo "| same, kernel-side walk time | $(fx "$x")x | $(verdict "$x" ">=" 0.95) |"
		done
	fi
	if has_case 2; then
		for qd in 1 16; do
			for c in bk_cp:"copied, running" bk_done:completed; do
				x=$(awk -v a="$(med r4k.${c%%:*}.qd$qd.iops)" -v b="$(med r4k.linear.qd$qd.iops)" 'BEGIN { print a / b }')
				y=$(awk -v a="$(med r4k.${c%%:*}.qd$qd.p99)" -v b="$(med r4k.linear.qd$qd.p99)" 'BEGIN { print a / b }')
				echo "| writes to copied chunks (${c#*:}) qd$qd: IOPS >= 97% of linear | $(fx "$x")x | $(verdict "$x" ">=" 0.97) |"
				echo "| same, p99 within 10% of linear | $(fx "$y")x | $(verdict "$y" "<=" 1.10) |"
			done
		done
		x=$(awk -v a="$(med r4k.bk.qd1.iops)" -v b="$(med r4k.snapN.qd1.iops)" 'BEGIN { print a / b }')
		echo "| first 4k random writes qd1 >= 2x dm-snapshot N | $(fx "$x")x | $(verdict "$x" ">=" 2) |"
		x=$(awk -v a="$(med r4k.bk.qd16.iops)" -v b="$(med r4k.snapN.qd16.iops)" 'BEGIN { print a / b }')
		echo "| first 4k random writes qd16 >= 3x dm-snapshot N | $(fx "$x")x | $(verdict "$x" ">=" 3) |"
	fi
	if has_case 7; then
		x=$(awk -v a="$(med slow.bk.qd1.iops)" -v b="$(med slow.snapN.qd1.iops)" 'BEGIN { print a / b }')
		echo "| (case 7, slow backup device) first 4k writes qd1 >= 2x dm-snapshot N | $(fx "$x")x | $(verdict "$x" ">=" 2) |"
		x=$(awk -v a="$(med slow.bk.qd16.iops)" -v b="$(med slow.snapN.qd16.iops)" 'BEGIN { print a / b }')
		echo "| (case 7, slow backup device) first 4k writes qd16 >= 3x dm-snapshot N | $(fx "$x")x | $(verdict "$x" ">=" 3) |"
	fi
	if has_case 9; then
		for d in brd nvme disk; do
			x=$(awk -v a="$(med pers.$d.bkP.qd1.iops)" -v b="$(med pers.$d.snapP.qd1.iops)" 'BEGIN { print a / b }')
			echo "| (case 9, $d) persistent first 4k writes qd1 >= 1.5x dm-snapshot P | $(fx "$x")x | $(verdict "$x" ">=" 1.5) |"
			x=$(awk -v a="$(med pers.$d.bkP.qd16.iops)" -v b="$(med pers.$d.snapP.qd16.iops)" 'BEGIN { print a / b }')
			echo "| (case 9, $d) persistent first 4k writes qd16 >= 3x dm-snapshot P | $(fx "$x")x | $(verdict "$x" ">=" 3) |"
		done
		x=$(awk -v a="$(med pers.walk.meta.mbs)" -v b="$(med pers.walk.none.mbs)" 'BEGIN { print a / b }')
		echo "| (case 9) walk with meta within 5% of without | $(fx "$x")x | $(verdict "$x" ">=" 0.95) |"
	fi
	if has_case 10; then
		for qd in 1 16; do
			x=$(med track.paired.qd$qd.ratio)
			echo "| (case 10) writes to recorded chunks qd$qd within 3% of dm-linear (paired) | $(fx "$x")x | $(verdict "$x" ">=" 0.97) |"
		done
		x=$(awk -v a="$(med track.first.qd1.iops)" -v b="$(med track.era.qd1.iops)" 'BEGIN { print a / b }')
		echo "| (case 10) first writes qd1 >= dm-era | $(fx "$x")x | $(verdict "$x" ">=" 1) |"
		x=$(awk -v a="$(med track.first.qd16.iops)" -v b="$(med track.era.qd16.iops)" 'BEGIN { print a / b }')
		echo "| (case 10) first writes qd16 > dm-era | $(fx "$x")x | $(verdict "$x" ">" 1) |"
		x=$(med track.inc1t.s)
		echo "| (case 10) an increment copying nothing on 1 TiB < 1 s | $(num "$x") s | $(verdict "$x" "<" 1) |"
	fi
	if has_case 3; then
		x=$(awk -v a="$(med seq.bk.mbs)" -v b="$(med seq.snapN.mbs)" 'BEGIN { print a / b }')
		echo "| 1 MiB sequential first writes >= 1.5x dm-snapshot N | $(fx "$x")x | $(verdict "$x" ">=" 1.5) |"
	fi
	if has_case 5; then
		for x in 8 32 64; do
			y=$(awk -v r="$(med thr.$x.ratio)" 'BEGIN { d = r - 1; print d < 0 ? -d : d }')
			echo "| throttle $x MiB/s within ±5% over 10 s | $(fx "$(med thr.$x.ratio)")x (worst run $(fx "${MIN[thr.$x.ratio]:-0}")–$(fx "${MAX[thr.$x.ratio]:-0}")) | $(verdict "$y" "<=" 0.05) |"
		done
	fi
	if has_case 6; then
		for x in 1G 1T 16T; do
			y=$(awk -v a="$(med ctr.k.$x.ms)" -v b="$(med resume.k.$x.ms)" 'BEGIN { print a + b }')
			echo "| construction < 100 ms ($(size_label $x): ctr + resume in the kernel; whole dmsetup create $(num "$(med ctr.bk.$x.ms)") ms, of which dmsetup itself ~$(num "$(med ctr.zero.$x.ms)") ms) | $(num "$y") ms | $(verdict "$y" "<" 100) |"
		done
		x=$(awk -v a="$(med mem.16T.slab)" -v b="$(med mem.16T.vmalloc)" -v c="$(med mem.1T.slab)" -v d="$(med mem.1T.vmalloc)" \
			'BEGIN { printf "%.3f", (a + b - c - d) / 15 / 1024 }')
		echo "| memory <= 2.1 MiB per TiB (Slab+VmallocUsed, (16 TiB − 1 TiB) / 15) | $x MiB/TiB | $(verdict "$x" "<=" 2.1) |"
		x=$(awk -v a="$(med mem.16T.free)" -v b="$(med mem.1T.free)" 'BEGIN { printf "%.3f", (a - b) / 15 / 1024 }')
		echo "| same from MemFree (coarse) | $x MiB/TiB | (informational) |"
		echo "| fixed part at 1 GiB: Slab+VmallocUsed / MemFree | $(num "$(awk -v a="$(med mem.1G.slab)" -v b="$(med mem.1G.vmalloc)" 'BEGIN { print a + b }')") / $(num "$(med mem.1G.free)") KiB | (informational) |"
		echo "| memory with 1024 writes waiting (dm-backup minus dm-delay alone, peak MemFree drop) | $(num "$(awk -v a="$(med pile.bk.free)" -v b="$(med pile.base.free)" 'BEGIN { print a - b }')") KiB | (informational) |"
	fi
}

T_START=$SECONDS
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
# Other VMs share the host's CPUs with ours: say so in the report.
OTHER_VMS=$(pgrep -c -f '^qemu-system' || true)
[ "${OTHER_VMS:-0}" -gt 0 ] &&
	echo "bench: warning: $OTHER_VMS other qemu VM(s) running on this host: expect noisy numbers" >&2
RC=0
for k in $KVERS; do
	echo "=== bench: $k ==="
	out=build/$k/bench
	mkdir -p "$out" bench/results
	make --no-print-directory -C "$TOP" modules KVER="$k" || die "module build failed for $k"
	DMBT_WITH_FIO=1 tests/mkinitramfs.sh "$k" "build/$k/src/dm-backup.ko" "$out/initramfs.cpio.gz" ||
		die "initramfs build failed for $k"
	append_jq "$out/initramfs.cpio.gz" || die "adding jq to the initramfs failed"

	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git status --porcelain -- drivers Kbuild 2>/dev/null)" ]; then
		commit="$commit-dirty"
		commit_note="$commit (drivers/ or Kbuild differ from HEAD)"
	else
		commit_note=$commit
	fi
	rm -f "$out/console.log" "$out/result"
	if ! DMBT_OUT=$out DMBT_INITRD=$out/initramfs.cpio.gz DMBT_SUMMARY_LABEL="bench $k: " \
		DMBT_APPEND="dmbt.bench_runs=$RUNS dmbt.bench_cases=$CASES dmbt.bench_walk_mb=$WALK_MB dmbt.bench_rand_mb=$RAND_MB ${DMBT_APPEND:-}" \
		tests/run-vm.sh "$k" bench; then
		grep -E 'FAIL|fail|DMBT-DONE' "$out/console.log" | tail -n 15 >&2
		echo "bench: ERROR: the benchmark VM run on $k failed (see $out/console.log); no report written" >&2
		RC=1
		continue
	fi
	MISSING=()
	report "$k" "$out/console.log" $((SECONDS - T_START)) "$commit_note" >"$out/report.md"
	if [ ${#MISSING[@]} -gt 0 ]; then
		printf 'bench: missing measurement: %s\n' "${MISSING[@]}" >&2
		echo "bench: ERROR: incomplete results on $k; no report written" >&2
		RC=1
		continue
	fi
	file=bench/results/$(date -u +%Y-%m-%d)-$k-$commit.md
	cp "$out/report.md" "$file"
	echo
	cat "$file"
	echo
	echo "bench: report written to $file"
done
echo "bench: kernels: $KVERS; total time $((SECONDS - T_START))s"
exit $RC
