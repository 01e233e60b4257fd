#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup start --suspended: the CLI recipe of an incremental backup of a
# thin volume (dm-backup.rst, "Incremental backups").  A full backup at T0
# (thin snapshot 1 taken while the volume is suspended for the job), writes,
# then at T1: suspend, thin_delta against snapshot 1 through a metadata
# snapshot, dmbackup map, dmbackup start --mode top --suspended, which
# resumes the volume with the job in place.  Writes issued while suspended
# (they block, land after the resume) and right after the resume must not
# be in the backup; every chunk written before the suspend must.  Oracle:
# the backup device equals the volume's image at the suspend (the expected
# image, every write mirrored into it); the volume equals the expected image
# with all writes.  Then the refusals (suspended without --suspended,
# --suspended on a live volume) and failure injection with --suspended: the
# volume is left suspended on its original table (dmbackup.8, FAILURES).
#
# Calibration: DMBT_MISTAKE=map-before-suspend (on the host: make check
# DMBT_APPEND=DMBT_MISTAKE=map-before-suspend) computes the map while the
# volume is live, before the last writes and the suspend; the test must
# then fail (the backup lacks those writes).
# tier: user
# timeout: 400
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

mkthin 8 64 32
b=$(mkloop 32) || exit 1
CH=65536
table0=$(table_of tv)
fill_random /dev/mapper/tv 561 $((16 * 1048576))	# chunks 0-255 provisioned
save_image /dev/mapper/tv "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

# mirror <byte_offset> <bytes> <seed> <file>: what write_at would have
# mirrored, for a write issued in the background.
mirror() {
	dmbt-prng "$3" "$2" | dd of="$4" bs=512 seek=$(($1 / 512)) \
		conv=notrunc status=none || fail "cannot mirror into $4"
}

# bg_write <vol> <byte_offset> <seed>: a 4 KiB O_DIRECT write in the
# background; its pid goes to $BG.
bg_write() {
	dmbt-prng "$3" 4096 >"$DMBT_TMP/bg.$3" || fail "prng failed"
	dd if="$DMBT_TMP/bg.$3" of="/dev/mapper/$1" bs=4096 count=1 seek="$2" \
		oflag=direct,seek_bytes conv=notrunc status=none &
	BG=$!
}

# blocked <pid>: the write has not completed (the volume holds it).
blocked() {
	sleep 1
	kill -0 "$1" 2>/dev/null || fail "a write to the suspended volume completed"
}

# suspended_untouched: tv has its original table, suspended, no inactive
# table, no hidden device.
suspended_untouched() {
	[ "$(table_of tv)" = "$table0" ] || fail "tv: table is '$(table_of tv)'"
	_su=$(dmsetup info tv)
	echo "$_su" | grep -q '^State: *SUSPENDED' || fail "tv is not suspended: $_su"
	echo "$_su" | grep -q '^Tables present: *LIVE$' || fail "tv: tables: $_su"
	! dmsetup info tv-dmbackup-origin >/dev/null 2>&1 ||
		fail "the hidden device tv-dmbackup-origin is left over"
}

# write_chunks <vol> <bytes> <expect> <chunk...>: write <bytes> 4 KiB into
# each chunk (the chunk number is the seed), mirrored into <expect>.
write_chunks() {
	_wc_v=$1 _wc_n=$2 _wc_e=$3
	shift 3
	for _wc_c in "$@"; do
		write_at "/dev/mapper/$_wc_v" $((_wc_c * CH + 4096)) "$_wc_n" "$_wc_c" "$_wc_e"
	done
}

# end_incremental <vol> <table> <backup> <image at the point in time>
# <expected image> <chunks>: run the job to its end at full speed and
# finish it; the backup must be the image at the point in time, the volume
# the expected image, and the map must have marked <chunks> chunks.
end_incremental() {
	run dmbackup speed "$1" 0
	run dmbackup wait "$1"
	_ei_total=$(bk_total "$1")
	run dmbackup finish "$1"
	vol_untouched "$1" "$2"
	same "$3" "$4"
	same "/dev/mapper/$1" "$5"
	[ "$_ei_total" -eq "$6" ] || fail "$1: the map marked $_ei_total chunks, want $6"
}

# start_fails <steps>: dmbackup start tv --suspended with DMBACKUP_FAIL_AT=
# steps must fail (exit code 1) at them; its output goes to $DMBT_TMP/out.
start_fails() {
	expect_injected "$1" start tv "$b" --suspended
}

# delta_map <snap>: the map of the chunks changed since thin snapshot
# <snap>, through a metadata snapshot (the pool is live); its loop device
# goes to $MAPDEV.
delta_map() {
	run dmsetup message pool 0 reserve_metadata_snap
	thin_delta --metadata-snap --snap1 "$1" --snap2 0 "$THIN_META" >"$DMBT_TMP/delta.xml" ||
		fail "thin_delta failed"
	run dmsetup message pool 0 release_metadata_snap
	run dmbackup map --chunk-sectors 128 --sectors 65536 -o "$DMBT_TMP/map" \
		--thin-delta "$DMBT_TMP/delta.xml"
	MAPDEV=$(losetup --show -f "$DMBT_TMP/map") || fail "losetup failed"
}

info "T0: suspend, thin snapshot 1, full backup with --suspended"
run dmsetup suspend tv
run dmsetup message pool 0 "create_snap 1 0"
run dmbackup start tv "$b" --suspended --speed 4M
dmsetup info tv | grep -q '^State: *ACTIVE' || fail "tv is not resumed: $(dmsetup info tv)"
write_at /dev/mapper/tv $((5 * CH)) 4096 50 "$DMBT_TMP/expect"
run dmbackup speed tv 0
run dmbackup wait tv
run dmbackup finish tv
vol_untouched tv "$table0"
same "$b" "$DMBT_TMP/t0"

info "writes after the full backup"
write_chunks tv 8192 "$DMBT_TMP/expect" 3 17 64 255 400
write_at /dev/mapper/tv $((120 * CH)) $((3 * CH)) 9 "$DMBT_TMP/expect"
[ "${DMBT_MISTAKE:-}" = map-before-suspend ] && delta_map 1
info "the last writes before the suspend"
write_chunks tv 4096 "$DMBT_TMP/expect" 30 200 401

info "T1: suspend; writes issued now block until the job is in place"
run dmsetup suspend tv
cp "$DMBT_TMP/expect" "$DMBT_TMP/t1"		# the image at the point in time
bg_write tv $((17 * CH)) 117			# a mapped chunk
bg1=$BG
bg_write tv $((90 * CH)) 190			# an unmapped chunk
bg2=$BG
blocked "$bg1"
blocked "$bg2"
[ "${DMBT_MISTAKE:-}" = map-before-suspend ] || delta_map 1
head -n 8 "$DMBT_TMP/delta.xml"
run dmsetup message pool 0 "create_snap 2 0"	# for the next increment
run dmbackup start tv "$b" --mode top --map "$MAPDEV" --suspended --speed 64K
info "right after the resume: writes to mapped and unmapped chunks"
write_at /dev/mapper/tv $((401 * CH)) 4096 201 "$DMBT_TMP/expect"	# mapped, last
write_at /dev/mapper/tv $((122 * CH)) 4096 202 "$DMBT_TMP/expect"	# mapped
write_at /dev/mapper/tv $((150 * CH)) 4096 203 "$DMBT_TMP/expect"	# unmapped
wait "$bg1" || fail "the write held by the suspend failed"
wait "$bg2" || fail "the write held by the suspend failed"
mirror $((17 * CH)) 4096 117 "$DMBT_TMP/expect"
mirror $((90 * CH)) 4096 190 "$DMBT_TMP/expect"
# 3 17 64 255 400 120-122 30 200 401, and 5 (written during T0's job)
end_incremental tv "$table0" "$b" "$DMBT_TMP/t1" "$DMBT_TMP/expect" 12
losetup -d "$MAPDEV"

info "refusals"
run dmsetup suspend tv
expect_refusal "pass --suspended" dmbackup start tv "$b"
suspended_untouched
run dmsetup resume tv
expect_refusal "is not suspended" dmbackup start tv "$b" --suspended
vol_untouched tv "$table0"
expect_refusal "is not suspended" dmbackup start tv "$b" --suspended --mode none
vol_untouched tv "$table0"

info "failures with --suspended: the volume stays suspended on its table"
for step in create load still-suspended resume; do
	info "DMBACKUP_FAIL_AT=$step"
	run dmsetup suspend tv
	start_fails "$step"
	suspended_untouched
	run dmsetup resume tv
	vol_untouched tv "$table0" "$DMBT_TMP/expect"
done

# After the resume the table is swapped back, which needs a resume: held
# writes get through, then the volume is suspended again.
info "DMBACKUP_FAIL_AT=resume-after: held writes get through, suspended again"
run dmsetup suspend tv
bg_write tv $((7 * CH)) 107
blocked "$BG"
start_fails resume-after
grep -q "out of date" "$DMBT_TMP/out" || fail "no warning that the map is out of date"
grep -q "still suspended" "$DMBT_TMP/out" || fail "no word that tv is still suspended"
suspended_untouched
wait "$BG" || fail "the held write failed"
mirror $((7 * CH)) 4096 107 "$DMBT_TMP/expect"
run dmsetup resume tv
vol_untouched tv "$table0" "$DMBT_TMP/expect"

info "DMBACKUP_FAIL_AT=resume-after,restore-suspend: restored, live"
run dmsetup suspend tv
start_fails resume-after,restore-suspend
grep -q "NOT suspended" "$DMBT_TMP/out" || fail "no word that tv is not suspended"
vol_untouched tv "$table0" "$DMBT_TMP/expect"

run dmsetup remove tv
run dmsetup remove pool

# dm-era under the volume: the volume is held suspended, the era device
# below it takes the messages (dm-era handles none while it is suspended).
info "dm-era: T0: suspend, checkpoint, full backup with --suspended"
emeta=$(mkloop 8) || exit 1
eo=$(mkloop 32) || exit 1
eb=$(mkloop 32) || exit 1
run dmsetup create era --table "0 65536 era $emeta $eo 128"
mkvol ev /dev/mapper/era
etable0=$(table_of ev)
fill_random /dev/mapper/ev 562
save_image /dev/mapper/ev "$DMBT_TMP/e0"
cp "$DMBT_TMP/e0" "$DMBT_TMP/eexpect"
run dmsetup suspend ev
run dmsetup message era 0 checkpoint
e0=$(era_now era)
run dmbackup start ev "$eb" --suspended
run dmbackup wait ev
run dmbackup finish ev
same "$eb" "$DMBT_TMP/e0"

info "dm-era: writes, then T1 with the volume suspended"
write_chunks ev 4096 "$DMBT_TMP/eexpect" 2 33 128 129 500
run dmsetup suspend ev
cp "$DMBT_TMP/eexpect" "$DMBT_TMP/e1"
bg_write ev $((33 * CH)) 333			# a mapped chunk
held=$BG
blocked "$held"
run dmsetup message era 0 checkpoint		# era $(era_now era): the next increment
info "era at T0: $e0, now $(era_now era)"
run dmsetup message era 0 take_metadata_snap
era_invalidate --metadata-snapshot --written-since "$e0" "$emeta" >"$DMBT_TMP/era.xml" ||
	fail "era_invalidate failed"
run dmsetup message era 0 drop_metadata_snap
run dmbackup map --chunk-sectors 128 --sectors 65536 -o "$DMBT_TMP/emap" \
	--era "$DMBT_TMP/era.xml" --era-block-sectors 128
emapdev=$(losetup --show -f "$DMBT_TMP/emap") || fail "losetup failed"
run dmbackup start ev "$eb" --mode top --map "$emapdev" --suspended --speed 64K
write_at /dev/mapper/ev $((500 * CH)) 4096 501 "$DMBT_TMP/eexpect"	# mapped
write_at /dev/mapper/ev $((64 * CH)) 4096 502 "$DMBT_TMP/eexpect"	# unmapped
wait "$held" || fail "the write held by the suspend failed"
mirror $((33 * CH)) 4096 333 "$DMBT_TMP/eexpect"
end_incremental ev "$etable0" "$eb" "$DMBT_TMP/e1" "$DMBT_TMP/eexpect" 5
run dmsetup remove ev
run dmsetup remove era
