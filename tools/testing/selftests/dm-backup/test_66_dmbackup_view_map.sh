#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup view and dmbackup map on a live volume.
#   view: after `start --mode none`, `dmbackup view` gives a read-only
#   device that, read in full while the volume is written, equals T0;
#   finish refuses while a view (live or only loaded) reads the job and
#   changes nothing; after `view --remove`, finish restores the original
#   table.  Refusals (no job, name taken, ended job, not a view, an open
#   view) and DMBACKUP_FAIL_AT=view-remove change nothing; a failure
#   injected into each step of view creation (view-create,
#   view-create-after) is rolled back: no device is left, the tables of the
#   job and its origin are unchanged, the data too (sha256sum, cmp).
#   map: thin_delta XML and byte ranges give exactly the expected bits, and
#   `start --mode top --map` with the map copies exactly those chunks.
# Oracles: T0 and the writes mirrored into an expected image; maps built
# bit by bit in the test; the backup device as the sentinel with T0 in the
# mapped chunks; the volume's table and state.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

CH=65536
o=$(mkloop 16) || exit 1		# 256 chunks of 64 KiB
b=$(mkloop 16) || exit 1
n=$(sectors "$o")
fill_random "$o" 661
fill_random "$b" 662
mkvol vol "$o"
table0=$(table_of vol)

# read_view <name> <file>: the whole view with O_DIRECT (no stale cache).
read_view() {
	dd if="/dev/mapper/$1" of="$2" bs=1M iflag=direct status=none ||
		fail "reading the view $1 failed"
}

# no_dev <name>: no dm device and no /dev/mapper node of that name.
no_dev() {
	! dmsetup info "$1" >/dev/null 2>&1 || fail "device $1 exists: $(table_of "$1")"
	[ ! -e "/dev/mapper/$1" ] || fail "/dev/mapper/$1 is left over"
}

# dm_devs: the names of all dm devices, sorted, on one line.
dm_devs() {
	dmsetup info -c --noheadings -o name | sort | tr '\n' ' '
}

# job_untouched <table>: the job is in place as it was, the volume active.
job_untouched() {
	[ "$(table_of vol)" = "$1" ] || fail "vol's table is '$(table_of vol)', want '$1'"
	[ "$(table_of vol-dmbackup-origin)" = "$table0" ] || fail "the hidden device changed"
	dmsetup info vol | grep -q '^State: *ACTIVE' || fail "vol is not active"
	dmsetup info vol | grep -q '^Tables present: *LIVE$' || fail "vol: $(dmsetup info vol)"
}

info "a view of a --mode none job, read while the volume is written"
save_image /dev/mapper/vol "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmbackup start vol "$b" --mode none
tbk=$(table_of vol)
run dmbackup view /dev/mapper/vol snap
# The view names the job's origin and backup device, not the volume
# (which a mounted file system would hold exclusively).
jobdevs=$(table_of vol | awk '{ print $4 " " $5 }')
[ "$(table_of snap)" = "0 $n backup-view $jobdevs" ] || fail "view table: $(table_of snap)"
[ "$(blockdev --getro /dev/mapper/snap)" = 1 ] || fail "the view is not read-only"
# Small writes trickle in, in rounds, while the whole view is read again
# and again, so that reads meet chunks not copied yet, being copied and
# copied.
(
	for k in 1 2 3 4 5 6 7 8; do
		bkp-io write /dev/mapper/vol "$DMBT_TMP/expect" $((663 + k)) \
			24 2 512 16384 50 0 0 ||
			exit 1
		sleep 0.2
	done
) &
io=$!
for i in 1 2 3 4 5 6; do
	read_view snap "$DMBT_TMP/v"
	same "$DMBT_TMP/v" "$DMBT_TMP/t0"
	info "read $i of the view equals T0 (copied so far: $(bk_copied vol))"
done
wait "$io" || fail "the writes to the volume failed"
read_view snap "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
[ "$(bk_copied vol)" -gt 0 ] || fail "the writes copied nothing: they did not meet the job"

info "finish refuses while the view exists, and changes nothing"
expect_refusal "still read through the view snap" dmbackup finish vol
expect_refusal "still read through the view snap" dmbackup finish --force vol
job_untouched "$tbk"
[ "$(backup_state vol)" = running ] || fail "job: $(backup_status vol)"
[ "$(view_state snap)" = attached ] || fail "view: $(dmsetup status snap)"
write_at /dev/mapper/vol $((40 * CH + 4096)) 8192 680 "$DMBT_TMP/expect"
read_view snap "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
same /dev/mapper/vol "$DMBT_TMP/expect"

info "a view only loaded (inactive table) also holds finish back"
run dmsetup create loaded --notable
run dmsetup load loaded --table "0 $n backup-view /dev/mapper/vol"
expect_refusal "still read through the view .*loaded" dmbackup finish vol
run dmsetup remove loaded
job_untouched "$tbk"

info "view refusals change nothing"
expect_refusal "a device named vol exists already" dmbackup view vol "vol"
expect_refusal "a device named snap exists already" dmbackup view vol snap
expect_refusal "not a device name" dmbackup view vol a/b
expect_refusal "no backup job runs on this volume" dmbackup view vol-dmbackup-origin snap2
no_dev snap2
expect_refusal "vol is not a backup-view device: not removing it" dmbackup view --remove vol
expect_refusal "vol-dmbackup-origin is not a backup-view device" \
	dmbackup view --remove vol-dmbackup-origin
exec 3</dev/mapper/snap
expect_refusal "the view snap is in use" dmbackup view --remove snap
exec 3<&-
job_untouched "$tbk"
dmbackup view vol >/dev/null 2>&1; [ $? -eq 2 ] || fail "view without a name: want exit code 2"
dmbackup view --remove a b >/dev/null 2>&1; [ $? -eq 2 ] ||
	fail "view --remove a b: want exit code 2"
for c in view map; do
	dmbackup $c --help | grep -q "^usage: dmbackup $c" || fail "no --help for $c"
done

info "failures injected into each step of view creation are rolled back"
# The steps of `dmbackup view` (cmd_view.c, view_steps), in order; a failure
# at each undoes the steps done before it, so that no device is left, the
# job and its origin keep their tables, and no data changes.
devs0=$(dm_devs)
sum_vol=$(sha256sum </dev/mapper/vol) || fail "sha256sum of vol failed"
sum_origin=$(sha256sum </dev/mapper/vol-dmbackup-origin) || fail "sha256sum of the origin failed"
for step in view-create view-create-after; do
	info "DMBACKUP_FAIL_AT=$step"
	expect_injected $step view vol snap2
	no_dev snap2
	[ "$(dm_devs)" = "$devs0" ] || fail "devices after $step: $(dm_devs), want $devs0"
	job_untouched "$tbk"
	[ "$(table_of snap)" = "0 $n backup-view $jobdevs" ] ||
		fail "the view snap after $step: $(table_of snap)"
	drop_caches /dev/mapper/vol /dev/mapper/vol-dmbackup-origin
	[ "$(sha256sum </dev/mapper/vol)" = "$sum_vol" ] || fail "vol's data changed at $step"
	[ "$(sha256sum </dev/mapper/vol-dmbackup-origin)" = "$sum_origin" ] ||
		fail "the origin's data changed at $step"
	same /dev/mapper/vol "$DMBT_TMP/expect"
done
grep -q "the view snap2 was created, removing it" "$DMBT_TMP/out" ||
	fail "view-create-after: no word of the removal"
DMBACKUP_FAIL_AT=view-remove dmbackup view --remove snap && fail "view-remove did not fail"
[ "$(table_of snap)" = "0 $n backup-view $jobdevs" ] ||
	fail "view after view-remove: $(table_of snap)"
read_view snap "$DMBT_TMP/v"
same "$DMBT_TMP/v" "$DMBT_TMP/t0"
job_untouched "$tbk"

info "remove the view; finish restores the original table"
run dmbackup view --remove snap
no_dev snap
run dmbackup cancel vol
expect_refusal "the job is cancelled: its point-in-time image is gone" dmbackup view vol snap
no_dev snap
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/expect"
expect_refusal "no backup job runs on this volume" dmbackup view vol snap
no_dev snap

# ---- dmbackup map ----------------------------------------------------------

# want_map <file> <chunk...>: the map that marks exactly these chunks
# (bit i % 8 of byte i / 8), 512 bytes for the 256 chunks.
want_map() {
	_wm_f=$1
	shift
	head -c 512 /dev/zero >"$_wm_f"
	for _wm_byte in $(for c in "$@"; do echo $((c / 8)); done | sort -n | uniq); do
		_wm_v=0
		for c in "$@"; do
			[ $((c / 8)) -eq "$_wm_byte" ] && _wm_v=$((_wm_v | (1 << (c % 8))))
		done
		# shellcheck disable=SC2059 # the format is an octal escape
		printf "\\$(printf %o "$_wm_v")" |
			dd of="$_wm_f" bs=1 seek="$_wm_byte" conv=notrunc status=none ||
			fail "dd failed"
	done
}

info "map from thin_delta XML (128 KiB data blocks: 2 chunks a block)"
cat >"$DMBT_TMP/delta.xml" <<'XML'
<superblock uuid="" time="1" transaction="2" data_block_size="256" nr_data_blocks="128">
  <diff left="1" right="0">
    <same begin="0" length="3"/>
    <different begin="3" length="1"/>
    <same begin="4" length="6"/>
    <right_only begin="10" length="2"/>
    <same begin="12" length="115"/>
    <left_only begin="127" length="1"/>
  </diff>
</superblock>
XML
thin_chunks="6 7 20 21 22 23 254 255"
dmbackup map --chunk-sectors 128 --sectors "$n" -o "$DMBT_TMP/map" \
	--thin-delta "$DMBT_TMP/delta.xml" >"$DMBT_TMP/out" 2>&1 ||
		fail "map: $(cat "$DMBT_TMP/out")"
cat "$DMBT_TMP/out"
grep -q "^dmbackup map: 8 of 256 chunks marked$" "$DMBT_TMP/out" ||
	fail "map did not count 8 chunks"
want_map "$DMBT_TMP/want" $thin_chunks
same "$DMBT_TMP/map" "$DMBT_TMP/want"
cp "$DMBT_TMP/map" "$DMBT_TMP/thinmap"

info "map from byte ranges (unaligned, from stdin)"
printf '%s\n' "# offset length" "0 512" "$((5 * CH + 4096)) 512" \
	"$((100 * CH + 512)) $CH" "$((255 * CH)) $CH" >"$DMBT_TMP/ranges"
run dmbackup map --chunk-sectors 128 --sectors "$n" -o "$DMBT_TMP/map" \
	--ranges - <"$DMBT_TMP/ranges"
want_map "$DMBT_TMP/want" 0 5 100 101 255
same "$DMBT_TMP/map" "$DMBT_TMP/want"

info "map refuses bad input and writes nothing"
echo "$((256 * CH)) 512" >"$DMBT_TMP/past"
expect_refusal "past the end" dmbackup map --chunk-sectors 128 --sectors "$n" \
	-o "$DMBT_TMP/nomap" --ranges "$DMBT_TMP/past"
echo "<superblock" >"$DMBT_TMP/bad.xml"
expect_refusal "XML error" dmbackup map --chunk-sectors 128 --sectors "$n" \
	-o "$DMBT_TMP/nomap" --thin-delta "$DMBT_TMP/bad.xml"
[ ! -e "$DMBT_TMP/nomap" ] || fail "a refused map was written"

info "start --mode top with the thin_delta map copies exactly its chunks"
fill_random "$b" 665
save_image /dev/mapper/vol "$DMBT_TMP/t1"
save_image "$b" "$DMBT_TMP/b0"
map=$(losetup --show -f "$DMBT_TMP/thinmap") || fail "losetup failed"
run dmbackup start vol "$b" --mode top --map "$map" --speed 256K
write_at /dev/mapper/vol $((21 * CH)) 4096 666 "$DMBT_TMP/expect"	# mapped
write_at /dev/mapper/vol $((30 * CH)) 4096 667 "$DMBT_TMP/expect"	# not mapped
run dmbackup speed vol 0
run dmbackup wait vol
[ "$(backup_status vol progress)" = 8/8 ] || fail "progress $(backup_status vol progress), want 8/8"
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/expect"
cp "$DMBT_TMP/b0" "$DMBT_TMP/bexp"
for c in $thin_chunks; do
	dd if="$DMBT_TMP/t1" of="$DMBT_TMP/bexp" bs=$CH skip="$c" seek="$c" count=1 \
		conv=notrunc status=none || fail "dd failed"
done
same "$b" "$DMBT_TMP/bexp"
run dmsetup remove vol
