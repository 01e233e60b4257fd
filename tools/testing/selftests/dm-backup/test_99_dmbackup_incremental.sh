#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Incremental forever from the CLI: `dmbackup start --meta --track` makes a
# full backup of a mounted, written ext4 volume (dm-linear over a loop
# device) that stays under the volume after it completed, recording;
# `dmbackup start --incremental` twice, with files and random 4 KiB writes
# between, copies the recorded chunks onto the same backup device.
# Oracles: after each job, the backup device equals the volume's image
# taken at its point in time (the file system frozen around the start, as
# frozen_start does); the increment's map that `info --list map` and
# `start --incremental --list` print as byte ranges is the kind-3 bitmap on
# the metadata device (read by the test itself, md_chunks), its chunk count
# is what start printed, and it holds every chunk whose data differ between
# the two images and every chunk `info --list changed` listed just before.
# Refusals (exit 1, the volume unchanged): an increment without a backup
# job, of a job that does not track changes, while the full backup still
# runs; finish of a tracking job without --stop-tracking.  A failure
# injected at each step of start --incremental (DMBACKUP_FAIL_AT) leaves
# the tracking job's table live and the volume active.  finish
# --stop-tracking puts the original table back and removes the job's file
# for reinstate.
# tier: user
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

CHUNK=65536
disk=$(mkloop 16) || exit 1
bdisk=$(mkloop 16) || exit 1
meta=$(mkloop 1) || exit 1
export DMBACKUP_JOBS_DIR="$DMBT_TMP/jobs"
mkvol vol "$disk"
trap 'fs_release /mnt/vol' EXIT
mkfs_mount /dev/mapper/vol /mnt/vol 6 990
table0=$(table_of vol)

# writes <k>: files rewritten, added and removed, random 4 KiB writes into
# a file, all synced.
writes() {
	dmbt-prng "$((9910 + $1))" 1M >"/mnt/vol/before-$1"
	dmbt-prng "$((9920 + $1))" 512K >"/mnt/vol/new-$1"
	rm -f "/mnt/vol/before-$(($1 + 3))"
	for j in 1 2 3 4 5; do
		dmbt-prng "$((9930 + $1 * 10 + j))" 4096 |
			dd of=/mnt/vol/before-6 bs=4096 seek=$(((j * 41 + $1 * 13) % 256)) \
				conv=notrunc status=none || fail "write into before-6 failed"
	done
	sync
}

# range_chunks <file>: the chunks "<offset> <length>" lines cover, one per
# line; fails on a range not aligned to chunks.
range_chunks() {
	awk -v c=$CHUNK '{ if ($1 % c || $2 % c) { print "unaligned " $0; exit 1 }
		for (k = $1 / c; k < ($1 + $2) / c; k++) print k }' "$1" ||
		fail "$1: $(cat "$1")"
}

# frozen_increment <k> [args...]: freeze the file system, image the volume
# as t<k> (O_DIRECT), dmbackup start --incremental, thaw; start's output
# goes to $DMBT_TMP/inc<k>.out.
frozen_increment() {
	_fi_k=$1
	shift
	run fsfreeze --freeze /mnt/vol
	dd if=/dev/mapper/vol of="$DMBT_TMP/t$_fi_k" bs=1M iflag=direct status=none ||
		{ fsfreeze --unfreeze /mnt/vol; fail "cannot image the volume"; }
	dmbackup start --incremental /dev/mapper/vol "$@" >"$DMBT_TMP/inc$_fi_k.out" 2>&1
	_fi_rc=$?
	fsfreeze --unfreeze /mnt/vol
	cat "$DMBT_TMP/inc$_fi_k.out"
	[ $_fi_rc -eq 0 ] || fail "dmbackup start --incremental failed (rc $_fi_rc)"
}

# check_increment <k> <parent uuid>: increment k started as job k-1's
# increment, copied exactly its map, and left the backup equal to t<k>.
check_increment() {
	grep -q "^vol: increment .* of job $2 started: point in time .*, copying [0-9]* chunks" \
		"$DMBT_TMP/inc$1.out" || fail "increment $1: start did not say what it copies"
	said=$(sed -n 's/.*, copying \([0-9]*\) chunks.*/\1/p' "$DMBT_TMP/inc$1.out")
	range_chunks "$DMBT_TMP/list$1" >"$DMBT_TMP/listed"
	md_chunks "$meta" 3 >"$DMBT_TMP/map"
	cmp -s "$DMBT_TMP/listed" "$DMBT_TMP/map" ||
		fail "increment $1: --list $(tr '\n' ' ' <"$DMBT_TMP/listed")" \
			"!= map $(tr '\n' ' ' <"$DMBT_TMP/map")"
	dmbackup info --list map "$meta" >"$DMBT_TMP/infolist" 2>&1
	cmp -s "$DMBT_TMP/infolist" "$DMBT_TMP/list$1" ||
		fail "increment $1: info --list map differs from start --list:" \
			"$(cat "$DMBT_TMP/infolist")"
	[ "$said" = "$(wc -l <"$DMBT_TMP/map")" ] ||
		fail "increment $1: start said $said chunks, the map has $(wc -l <"$DMBT_TMP/map")"
	dmbt-chunkdiff "$DMBT_TMP/t$(($1 - 1))" "$DMBT_TMP/t$1" $CHUNK >"$DMBT_TMP/diff" ||
		fail "dmbt-chunkdiff failed"
	missing=$(grep -vxF -f "$DMBT_TMP/map" "$DMBT_TMP/diff" | tr '\n' ' ')
	[ -z "$missing" ] || fail "increment $1: chunks changed but not in its map: $missing"
	info "increment $1: $said chunks in its map, $(wc -l <"$DMBT_TMP/diff") differ"
	run dmbackup wait /dev/mapper/vol --interval 0
	same "$bdisk" "$DMBT_TMP/t$1"
}

info "refused: an increment without a backup job"
expect_refusal "no backup job on this volume" dmbackup start --incremental /dev/mapper/vol
vol_untouched vol "$table0"

info "refused: an increment of a job that does not track changes"
run dmbackup start /dev/mapper/vol "$bdisk" --speed 1M
expect_refusal "does not track changes" dmbackup start --incremental /dev/mapper/vol
run dmbackup cancel /dev/mapper/vol
run dmbackup finish /dev/mapper/vol
vol_untouched vol "$table0"

info "the full backup, tracking, throttled; refused: an increment while it runs"
frozen_start /mnt/vol /dev/mapper/vol "$bdisk" --meta "$meta" --track --force --speed 1M
table_job=$(table_of vol)
echo "$table_job" | grep -q " track on$" || fail "no 'track on' in the job's table: $table_job"
expect_refusal "has not completed (state running" dmbackup start --incremental /dev/mapper/vol
[ "$(table_of vol)" = "$table_job" ] || fail "a refused increment changed the table"
run dmbackup speed /dev/mapper/vol 0
run dmbackup wait /dev/mapper/vol --interval 0
same "$bdisk" "$DMBT_TMP/t0"
grep -q "^meta=$meta$" "$DMBACKUP_JOBS_DIR/vol.conf" ||
	fail "no job file for reinstate: $(cat "$DMBACKUP_JOBS_DIR/vol.conf" 2>&1)"
uuid=$(backup_status vol job_uuid)
table_job=$(table_of vol)

info "refused: finish of a tracking job"
expect_refusal "tracks changes" dmbackup finish /dev/mapper/vol
[ "$(table_of vol)" = "$table_job" ] || fail "a refused finish changed the table"

info "a failed suspend or resume leaves the tracking job as it was"
for step in inc-load inc-suspend inc-resume; do
	expect_injected "$step" start --incremental /dev/mapper/vol
	[ "$(table_of vol)" = "$table_job" ] || fail "$step: the table is $(table_of vol)"
	dmsetup info vol | grep -q '^Tables present: *LIVE$' || fail "$step: $(dmsetup info vol)"
	dmsetup info vol | grep -q '^State: *ACTIVE' || fail "$step: vol is not active"
done

k=1
while [ $k -le 2 ]; do
	info "increment $k"
	writes $k
	dmbackup status vol | tee "$DMBT_TMP/status"
	grep -q "tracking: [1-9][0-9]* chunks (.*) changed since the point in time" \
		"$DMBT_TMP/status" || fail "status does not show the pending increment"
	dmbackup info "$meta" | tee "$DMBT_TMP/info"
	grep -q "tracking: *on, [1-9][0-9]* chunks" "$DMBT_TMP/info" ||
		fail "info does not show the record"
	dmbackup info --list changed "$meta" >"$DMBT_TMP/changed$k"
	range_chunks "$DMBT_TMP/changed$k" >"$DMBT_TMP/record$k"
	# Between here and the freeze only the file system's own flush may
	# write: the map is this record and maybe a few chunks more.
	if [ $k -eq 1 ]; then
		frozen_increment $k --list "$DMBT_TMP/list$k"
	else
		frozen_increment $k "$bdisk" --list "$DMBT_TMP/list$k"
	fi
	md_chunks "$meta" 3 >"$DMBT_TMP/map0"
	missing=$(grep -vxF -f "$DMBT_TMP/map0" "$DMBT_TMP/record$k" | tr '\n' ' ')
	[ -z "$missing" ] || fail "increment $k: recorded chunks not in its map: $missing"
	check_increment $k "$uuid"
	new=$(backup_status vol job_uuid)
	[ "$new" != "$uuid" ] || fail "the increment kept the uuid $uuid"
	dmbackup info "$meta" | tee "$DMBT_TMP/info"
	grep -q "increment of: *$uuid" "$DMBT_TMP/info" || fail "info does not name the parent"
	uuid=$new
	k=$((k + 1))
done

info "finish --stop-tracking"
run dmbackup finish --stop-tracking /dev/mapper/vol
vol_untouched vol "$table0"
[ ! -e "$DMBACKUP_JOBS_DIR/vol.conf" ] || fail "finish --stop-tracking left the job file"
dmbt-prng 9912 1M | cmp -s - /mnt/vol/before-2 || fail "before-2 damaged"
dmbt-prng 993 1M | cmp -s - /mnt/vol/before-3 || fail "before-3 damaged"
run umount /mnt/vol
info "the last backup is a clean file system"
run e2fsck -fn "$bdisk"
