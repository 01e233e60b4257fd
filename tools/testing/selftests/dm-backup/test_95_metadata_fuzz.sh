#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Fuzzed metadata: a real job's metadata with one field or bitmap byte
# changed per case (dmbt-metafuzz.c, seeded; its model of the kernel's
# checks gives the verdict).  A table naming such a device either loads
# the job (a state the status line knows) or is refused with the error the
# model names, and a refused table writes nothing to the device.  The
# harness fails the run on any kernel warning.  Short slice in CI, the long
# form with `make check-long`.
#
# Cases: 40 (make check-long: 1000), seed 9595; dmbt.fuzz_seed=S and
# dmbt.fuzz_count=N on the kernel command line (DMBT_APPEND) change them.
# Replay one case:  dmbt-metafuzz <image> <seed> <case> <geometry...>
# tier: crash
# timeout: 900
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

cases= seed=
for w in $(cat /proc/cmdline); do
	case $w in
	dmbt.fuzz_count=*) cases=${w#dmbt.fuzz_count=} ;;
	dmbt.fuzz_seed=*)  seed=${w#dmbt.fuzz_seed=} ;;
	esac
done
cases=${cases:-$(campaign 40 1000)}
seed=${seed:-9595}
info "seed $seed, $cases cases"
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
m=$(mkloop 1) || exit 1
fill_random "$o" 95

info "a real job's metadata: a walk stopped part way, and writes"
bk_create bk "$o" "$b" full 4 speed 2097152 meta "$m"
write_at /dev/mapper/bk 8999936 8192 1 "$DMBT_TMP/junk"
wait_copied bk 40
run dmsetup remove bk
drop_caches "$m"
dd if="$m" of="$DMBT_TMP/base" bs=4096 count=3 status=none
geometry="$(sectors "$m") $(sectors "$o") $(sectors "$b") 128 0"

i=0
accepted=0
while [ "$i" -lt "$cases" ]; do
	cp "$DMBT_TMP/base" "$DMBT_TMP/img"
	# shellcheck disable=SC2086 # word splitting wanted
	want=$(dmbt-metafuzz "$DMBT_TMP/img" "$seed" "$i" $geometry) ||
		fail "dmbt-metafuzz failed on case $i"
	dd if="$DMBT_TMP/img" of="$m" bs=4096 conv=notrunc status=none
	sum=$(md5sum <"$m")
	echo "dmbt: metadata case $i: $want" >/dev/kmsg
	table=$(bk_table "$o" "$b" full 2 meta "$m")
	case $want in
	accept*)
		dmsetup create bk --table "$table" ||
			fail "case $i ($want): refused: $(dmesg | tail -n 2)"
		st=$(backup_state bk)
		case $st in
		running|paused|completed|failed|cancelled) ;;
		*) fail "case $i ($want): state '$st'" ;;
		esac
		run dmsetup remove bk
		accepted=$((accepted + 1))
		;;
	refuse*)
		if dmsetup create bk --table "$table" 2>/dev/null; then
			fail "case $i ($want): accepted: $(backup_status bk)"
		fi
		dmsetup info bk >/dev/null 2>&1 && dmsetup remove bk
		why=${want#refuse|}
		why=${why%%|*}
		dmesg | tail -n 3 | grep -qF "$why" ||
			fail "case $i ($want): log lacks '$why': $(dmesg | tail -n 2)"
		[ "$(md5sum <"$m")" = "$sum" ] ||
			fail "case $i ($want): the refused table wrote to the metadata"
		;;
	*) fail "case $i: no verdict: $want" ;;
	esac
	i=$((i + 1))
done
info "$cases cases, $accepted accepted"
# Both verdicts must be exercised, or the campaign tests nothing.
[ "$accepted" -gt 0 ] && [ "$accepted" -lt "$cases" ] ||
	fail "$accepted of $cases accepted: the mutations miss one side"
