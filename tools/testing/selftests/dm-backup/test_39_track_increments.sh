#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Incremental forever with the kernel's own record (table options "track
# on" and "increment <uuid>"): a full backup of a mounted, written ext4,
# then three increments with files written, rewritten and removed and
# random 4 KiB writes between them.  Each increment starts from the record
# of the job before it (its point in time is its first resume, and a fresh
# record starts there), copies exactly the recorded chunks onto the device
# that holds the previous image, and leaves that device equal to the
# volume at the new point in time.  Oracles: the volume's image taken at
# each point in time (file system frozen, volume suspended); dm-era under
# the volume as an independent witness of the chunks written between two
# points in time (era_invalidate): our record is exactly that set, and it
# holds every chunk whose data changed.  The last increment goes onto a
# zeroed device: it holds the recorded chunks at their offsets, zeroes
# elsewhere.  Refusals: an increment of a job that is not the one on the
# metadata device, or not in sync mode top.
# tier: user
# timeout: 400
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048
other=01234567-89ab-cdef-0123-456789abcdef	# no job's uuid
o=$(mkloop 32) || exit 1
b=$(mkloop 32) || exit 1
b2=$(mkloop 32) || exit 1
m=$(mkloop 1) || exit 1
em=$(mkloop 8) || exit 1
run dmsetup create era --table "0 $((32 * MB)) era $em $o 128"
run dmsetup create vol --table "0 $((32 * MB)) linear /dev/mapper/era 0"
run mke2fs -q -t ext4 -F /dev/mapper/vol
mkdir -p /mnt/vol
run mount -t ext4 /dev/mapper/vol /mnt/vol
for i in 1 2 3 4 5 6; do
	dmbt-prng "$((3900 + i))" 1M >"/mnt/vol/f$i"
done
sync

# freeze_point <k>: freeze the file system, suspend the volume, image it
# as t<k>, mark era's checkpoint: the point in time of job k.
freeze_point() {
	run fsfreeze --freeze /mnt/vol
	run dmsetup suspend --nolockfs vol
	# O_DIRECT: save_image's sync would wait for the frozen file system.
	dd if=/dev/mapper/era of="$DMBT_TMP/t$1" bs=1M iflag=direct status=none ||
		fail "cannot image the volume"
	run dmsetup message era 0 checkpoint
}
# thaw: the volume resumes on the table loaded meanwhile.
thaw() {
	run dmsetup resume vol
	run fsfreeze --unfreeze /mnt/vol
}
# era_written_since <era> <file>: the chunks dm-era saw written since that
# era (64 KiB era blocks are our chunks), one per line.
era_written_since() {
	run dmsetup message era 0 take_metadata_snap
	era_invalidate --metadata-snapshot --written-since "$1" "$em" >"$DMBT_TMP/era.xml" ||
		fail "era_invalidate failed"
	run dmsetup message era 0 drop_metadata_snap
	run dmbackup map --chunk-sectors 128 --sectors $((32 * MB)) -o "$DMBT_TMP/era.map" \
		--era "$DMBT_TMP/era.xml" --era-block-sectors 128
	bits_set "$DMBT_TMP/era.map" >"$2"
}
# differing_chunks <img_a> <img_b>: chunks whose data differ.
differing_chunks() {
	dmbt-chunkdiff "$1" "$2" 65536 || fail "dmbt-chunkdiff failed"
}
# expect_load_error <message> <backup table args>: loading a backup table
# with these arguments onto vol (the metadata device is the live job's, so
# only a table of the same device may name it) fails and logs the message.
expect_load_error() {
	if dmsetup load vol --table "0 $((32 * MB)) backup /dev/mapper/era $2" 2>/dev/null; then
		fail "table accepted: $2"
	fi
	dmesg | tail -n 5 | grep -qF "$1" || fail "table '$2': log lacks '$1': $(dmesg | tail -n 3)"
	run dmsetup clear vol
}
# writes <k>: files rewritten, added, removed, random 4 KiB writes inside a
# file, all synced.
writes() {
	dmbt-prng "$((3910 + $1))" 1M >"/mnt/vol/f$1"
	dmbt-prng "$((3920 + $1))" 512K >"/mnt/vol/new$1"
	rm -f "/mnt/vol/f$(($1 + 3))"
	for j in 1 2 3 4; do
		dmbt-prng "$((3930 + $1 * 10 + j))" 4096 |
			dd of=/mnt/vol/f6 bs=4096 seek=$(((j * 37 + $1 * 11) % 256)) \
				conv=notrunc status=none || fail "write into f6 failed"
	done
	sync
}

info "full backup at t0, tracking"
freeze_point 0
e_prev=$(era_now era)
run dmsetup load vol --table "0 $((32 * MB)) backup /dev/mapper/era $b full 4 meta $m track on"
thaw
wait_state vol completed 120
same "$b" "$DMBT_TMP/t0"
uuid=$(backup_status vol job_uuid)

k=1
while [ "$k" -le 3 ]; do
	info "increment $k"
	writes "$k"
	dest=$b
	[ "$k" -eq 3 ] && dest=$b2
	pending=$(backup_status vol changed)
	freeze_point "$k"
	md_chunks "$m" 2 >"$DMBT_TMP/record"
	era_written_since "$e_prev" "$DMBT_TMP/era"
	e_prev=$(era_now era)
	cmp -s "$DMBT_TMP/record" "$DMBT_TMP/era" ||
		fail "increment $k: record $(tr '\n' ' ' <"$DMBT_TMP/record")" \
			"!= era $(tr '\n' ' ' <"$DMBT_TMP/era")"
	differing_chunks "$DMBT_TMP/t$((k - 1))" "$DMBT_TMP/t$k" >"$DMBT_TMP/diff"
	missing=$(sort -un "$DMBT_TMP/diff" "$DMBT_TMP/record" | wc -l)
	[ "$missing" -eq "$(wc -l <"$DMBT_TMP/record")" ] ||
		fail "increment $k: chunks changed but not recorded:" \
			"$(grep -vxF -f "$DMBT_TMP/record" "$DMBT_TMP/diff" | tr '\n' ' ')"
	nrec=$(wc -l <"$DMBT_TMP/record")
	info "increment $k: $nrec chunks recorded (era agrees), $(wc -l <"$DMBT_TMP/diff") differ"
	[ "$nrec" -ge "$pending" ] || fail "status said $pending pending, the record holds $nrec"
	if [ "$k" -eq 2 ]; then
		info "refused: an increment of another job; not in sync mode top"
		expect_load_error "neither the job to make an increment of" \
			"$dest top 6 meta $m track on increment $other"
		expect_load_error "increment needs sync mode top" \
			"$dest full 6 meta $m track on increment $uuid"
	fi
	run dmsetup load vol --table \
		"0 $((32 * MB)) backup /dev/mapper/era $dest top 6 meta $m track on increment $uuid"
	run dmsetup resume vol
	# Still frozen: nothing wrote since the point in time.
	[ "$(backup_status vol changed)" = 0 ] ||
		fail "a fresh record is not empty: $(backup_status vol)"
	run fsfreeze --unfreeze /mnt/vol
	[ "$(bk_total vol)" = "$nrec" ] ||
		fail "increment $k copies $(bk_total vol) chunks, the record holds $nrec"
	new=$(backup_status vol job_uuid)
	[ "$new" != "$uuid" ] || fail "the increment kept the uuid $uuid"
	md_chunks "$m" 3 >"$DMBT_TMP/map"
	cmp -s "$DMBT_TMP/map" "$DMBT_TMP/record" || fail "increment $k: its map is not the record"
	wait_state vol completed 120
	uuid=$new
	if [ "$dest" = "$b" ]; then
		same "$b" "$DMBT_TMP/t$k"
	else
		info "onto a zeroed device: the recorded chunks at their offsets"
		drop_caches "$b2"
		differing_chunks "$b2" "$DMBT_TMP/t$k" >"$DMBT_TMP/wrong"
		bad=$(grep -xF -f "$DMBT_TMP/wrong" "$DMBT_TMP/record" | tr '\n' ' ')
		[ -z "$bad" ] || fail "recorded chunks not copied right: $bad"
		dd if=/dev/zero of="$DMBT_TMP/zero" bs=1M count=32 status=none
		differing_chunks "$b2" "$DMBT_TMP/zero" >"$DMBT_TMP/written"
		bad=$(grep -vxF -f "$DMBT_TMP/record" "$DMBT_TMP/written" | tr '\n' ' ')
		[ -z "$bad" ] || fail "chunks written that the record does not hold: $bad"
	fi
	k=$((k + 1))
done

info "the chain's last job still tracks: a write is recorded"
dmbt-prng 3999 64K >/mnt/vol/last
sync
[ "$(backup_status vol changed)" -ge 1 ] || fail "no record after the chain: $(backup_status vol)"
run umount /mnt/vol
run e2fsck -fn /dev/mapper/vol
run dmsetup remove vol
run dmsetup remove era
