#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Fuzzed inputs: seeded, reproducible table lines, target messages and
# /sys/block/dm-N/backup/ writes (dmbt-fuzz.c): wrong counts, random words,
# huge/negative numbers, wrong devices, duplicated keys, empty and very long
# lines, and valid ones.  Oracle: dmbt-fuzz's model of the documented
# grammar; every input is refused (nothing changes, and table errors log the
# documented message) or accepted with the documented meaning (the canonical
# `dmsetup table` line, which must load again and read back the same; the
# effect of a message or sysfs write on speed and state).  A sample of the
# table lines also goes through dmsetup itself.  Afterwards no device is
# left and dm-backup unloads; the runner scans the kernel log.
#
# Cases: DMBT_FUZZ_COUNT (default 500, in make check-long 5000), seed
# DMBT_FUZZ_SEED (default 7070); both also as dmbt.fuzz_count=N /
# dmbt.fuzz_seed=S on the kernel command line, e.g.:
#   make check T=test_70_fuzz_inputs DMBT_APPEND=dmbt.fuzz_count=10000
# (DMBT_APPEND is read by tests/run-vm.sh).  Reproduce case I of a seed:
#   dmbt-fuzz show <seed> <I> 1 <origin> <backup> <small> <lorigin> <lbackup>
#   dmbt-fuzz run <seed> <I> 1 <origin> <backup> <small> <lorigin> <lbackup>
# timeout: 600
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

count=${DMBT_FUZZ_COUNT:-}
seed=${DMBT_FUZZ_SEED:-}
for w in $(cat /proc/cmdline); do
	case $w in
	dmbt.fuzz_count=*) count=${w#dmbt.fuzz_count=} ;;
	dmbt.fuzz_seed=*)  seed=${w#dmbt.fuzz_seed=} ;;
	esac
done
count=${count:-$(campaign 500 5000)}
seed=${seed:-7070}

o=$(mkloop 8) || exit 1		# origin: 16384 sectors
b=$(mkloop 10) || exit 1	# backup: larger
s=$(mkloop 4) || exit 1		# a device smaller than the origin
lo=$(mkloop 8) || exit 1	# the live device of the message and sysfs cases
lb=$(mkloop 8) || exit 1
fill_random "$o" 70

info "fuzz: seed $seed, $count cases through the dm ioctls"
t0=$(date +%s)
dmbt-fuzz run "$seed" "$count" "$o" "$b" "$s" "$lo" "$lb" >"$DMBT_TMP/fuzz.out" 2>&1
rc=$?
grep -v '^MISMATCH' "$DMBT_TMP/fuzz.out"
if [ $rc -ne 0 ]; then
	grep '^MISMATCH' "$DMBT_TMP/fuzz.out" | head -n 40
	fail "dmbt-fuzz: $(grep -c '^MISMATCH' "$DMBT_TMP/fuzz.out") mismatches (rc=$rc)"
fi
info "fuzz took $(($(date +%s) - t0))s"

info "a sample of the table lines through dmsetup"
dmbt-fuzz lines "$seed" 600 "$o" "$b" "$s" "$lo" "$lb" | head -n 30 >"$DMBT_TMP/lines" ||
	fail "dmbt-fuzz lines failed"
n=0 acc=0
tab=$(printf '\t')
while IFS="$tab" read -r verdict canon line; do
	n=$((n + 1))
	if dmsetup create dmbt-fz --table "$line" >/dev/null 2>&1; then
		got=$(dmsetup table dmbt-fz | cut -d' ' -f4-)
		dmsetup remove dmbt-fz || fail "cannot remove dmbt-fz"
		[ "$verdict" = refuse ] && fail "dmsetup accepted an invalid table: '$line'"
		[ "$verdict" = accept ] && [ "$got" != "$canon" ] &&
			fail "dmsetup: '$line' reads back '$got', want '$canon'"
		acc=$((acc + 1))
	else
		[ "$verdict" = accept ] &&
			fail "dmsetup refused a valid table: '$line': $(dmesg | tail -n 2)"
		dmsetup info dmbt-fz >/dev/null 2>&1 &&
			fail "a refused create left device dmbt-fz behind"
	fi
done <"$DMBT_TMP/lines"
[ $n -ge 20 ] || fail "only $n sample lines"
info "dmsetup: $n lines, $acc accepted"

left=$(dmsetup info -c --noheadings -o name 2>/dev/null | grep -v '^No devices found')
[ -z "$left" ] || fail "devices left: $left"
info "dm-backup unloads cleanly"
run rmmod dm-backup
run modprobe dm-backup
