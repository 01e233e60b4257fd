#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Power cut under a persistent job: origin, backup and metadata device are
# each a dm-linear (the metadata a dm-delay of 20 ms writes); at a
# different instant in each round, with writers hammering the volume (one
# right behind the walk) and the walk half-way, all three are switched to
# the error target at once (nothing reaches any disk after the cut).
# Then the disks come back ("reboot"), the same table is loaded, and the
# job continues from its metadata to completion: the backup must equal
# the image the origin held when the job started, whatever instant the
# cut hit (a walk copy whose bit was not committed is copied again; a
# write never reached the origin before its chunk's data and bit were
# durable).  Every other round the job tracks changes ("track on"): the
# record on the metadata device must then hold the chunk of every write
# that completed before the cut, and an increment started from it after
# the job completed must leave the backup equal to the origin (a write
# that reached the origin before its mark was committed would be missing
# from it); then two more cuts hit the increment's record between backups
# (20 such instants in all), and after the same table is loaded again
# each time the next increment is exact.  Short slice in CI, the long form with `make check-long`.
# tier: crash
# timeout: 1800
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

rounds=$(campaign 20 60)
lo=$(mkloop 4) || exit 1
lb=$(mkloop 4) || exit 1
lm=$(mkloop 1) || exit 1
# table_of_disk <name> <dev>: the metadata disk delays writes by 20 ms,
# as a slow or remote metadata device does: a commit then takes tens of
# ms, and a write that went to the origin before its chunk's commit (a
# broken module) has a wide window to be caught in by a cut.
table_of_disk() {
	case $1 in
	pm) echo "0 $(sectors "$2") delay $2 0 0 $2 0 20" ;;
	*)  echo "0 $(sectors "$2") linear $2 0" ;;
	esac
}
for d in po:"$lo" pb:"$lb" pm:"$lm"; do
	run dmsetup create "${d%%:*}" --table "$(table_of_disk "${d%%:*}" "${d#*:}")"
done
o=/dev/mapper/po b=/dev/mapper/pb m=/dev/mapper/pm

# power_cut: every disk answers with errors from the same instant on.
# All three are suspended first (noflush: what is in flight below them
# completes, nothing new reaches a disk), then all get the error target.
# The metadata disk first: from then on no commit completes, so a correct
# module lets no write reach an uncopied chunk of the origin, while a
# module that lets writes go before their commit keeps writing the origin
# until its suspend (the origin first would give the commits in flight
# the time of two suspends to land, and hide that).  The backup disk last:
# what it takes meanwhile is newer than the commits, as in a real cut.
power_cut() {
	for d in pm po pb; do
		run dmsetup suspend --noflush "$d"
	done
	for d in pm pb po; do
		run dmsetup load "$d" --table "0 $(sectors /dev/mapper/$d) error"
		run dmsetup resume "$d"
	done
}
# power_on: the disks come back as they were at the cut.
power_on() {
	for d in po:"$lo" pb:"$lb" pm:"$lm"; do
		run dmsetup suspend "${d%%:*}"
		run dmsetup load "${d%%:*}" --table "$(table_of_disk "${d%%:*}" "${d#*:}")"
		run dmsetup resume "${d%%:*}"
	done
}

# The job in the metadata, before the table resumes: the loaded table's
# status (the constructor read the job).  Field 5: after "0 <len> backup
# <sync_mode>".
loaded_state() {
	dmsetup status --inactive bk | awk '{ print $5 }'
}

fill_random "$o" 94
# The random writers hit the first 3 MiB; their own oracle is not used:
# the origin after a cut holds whatever of the writes in flight reached
# it.  In the last MiB a sequential writer logs each 4 KiB write once it
# completed: after the cut every logged write must be on the origin.
bytes=$(($(sectors "$o") * 512))
seq_base=$((bytes / 4096 - 256))
dd if=/dev/zero of="$DMBT_TMP/junk" bs=512 count="$(sectors "$o")" status=none

# seq_writer <round>: 4 KiB writes, block after block, from seq_base on.
seq_writer() {
	dmbt-prng "$((9400 + $1))" 1M >"$DMBT_TMP/seq" || fail "prng failed"
	: >"$DMBT_TMP/seq.done"
	_sw_j=0
	while [ "$_sw_j" -lt 256 ] &&
	      dd if="$DMBT_TMP/seq" of=/dev/mapper/bk bs=4096 skip="$_sw_j" \
		 seek=$((seq_base + _sw_j)) count=1 oflag=direct conv=notrunc \
		 status=none 2>/dev/null; do
		_sw_j=$((_sw_j + 1))
		echo "$_sw_j" >"$DMBT_TMP/seq.done"
	done
}

# completed_writes_kept: the origin holds every write seq_writer logged.
completed_writes_kept() {
	_cw_n=$(cat "$DMBT_TMP/seq.done")
	dd if="$DMBT_TMP/seq" of="$DMBT_TMP/seq.head" bs=4096 count="${_cw_n:-0}" \
		status=none
	drop_caches "$o"
	dd if="$o" bs=4096 skip="$seq_base" count="${_cw_n:-0}" status=none |
		cmp -s - "$DMBT_TMP/seq.head" ||
		fail "round $r: a write completed before the cut is lost (${_cw_n:-0} logged)"
	info "round $r: ${_cw_n:-0} completed sequential writes on the origin"
}
# 1024 chunks of 4 KiB, the walk at 512 KiB/s (8 s): at every instant
# below it is under way, with writes hitting chunks it has not reached.
completed_at_cut=0

# record_holds_completed_writes: the record on the metadata device holds
# the chunk (4 KiB chunks) of every write seq_writer logged.
record_holds_completed_writes() {
	_rh_n=$(cat "$DMBT_TMP/seq.done")
	md_chunks "$m" 2 >"$DMBT_TMP/record"
	_rh_j=0
	while [ "$_rh_j" -lt "${_rh_n:-0}" ]; do
		grep -qx "$((seq_base + _rh_j))" "$DMBT_TMP/record" ||
			fail "round $r: write $_rh_j completed before the cut, not recorded"
		_rh_j=$((_rh_j + 1))
	done
}
# increment_exact: an increment of the completed job onto the same backup
# device makes it equal to the origin (nothing writes now).
increment_exact() {
	_ie_uuid=$(backup_status bk job_uuid)
	run dmsetup load bk --table "$(bk_table "$o" "$b" top 8 chunk_size 8 meta "$m" \
		track on increment "$_ie_uuid")"
	run dmsetup suspend bk
	run dmsetup resume bk
	info "round $r: increment of $(bk_total bk) recorded chunks"
	wait_state bk completed 120
	same "$b" "$o"
}
# writers_start <round>: the random writers and seq_writer, in the
# background ($writer, $seqw).
writers_start() {
	(i=0; while bkp-io write /dev/mapper/bk "$DMBT_TMP/junk" "$1$i" 20 1 \
		4096 8192 100 5 5 0 $((bytes - 1048576)) >/dev/null 2>&1; do
		i=$((i + 1)); done) &
	writer=$!
	seq_writer "$1" &
	seqw=$!
}
# trail_writer <seed>: 4 KiB writes to the 16 chunks behind the walk's
# front (its copied chunks, less those copies of writes made: the status),
# where the walk's batched commits may not have landed yet (test_13): a
# write there must wait for that commit, or the chunk, its bit lost in
# the cut, is copied again from the written origin.  It keeps out of
# seq_writer's last MiB and stops when a write fails (the cut).
trail_writer() {
	_tw_seed=$1 _tw_i=0
	_tw_max=$((bytes / 4096 - 256 - 16))
	while _tw_st=$(dmsetup status bk 2>/dev/null); do
		# shellcheck disable=SC2086 # word splitting wanted
		set -- $_tw_st
		_tw_f=$((${6%/*} - $8 - 16))
		[ "$_tw_f" -ge 0 ] || _tw_f=0
		[ "$_tw_f" -le "$_tw_max" ] || _tw_f=$_tw_max
		bkp-io write /dev/mapper/bk "$DMBT_TMP/junk" "$_tw_seed$_tw_i" 16 1 4096 4096 \
			100 0 0 $((_tw_f * 4096)) $((16 * 4096)) >/dev/null 2>&1 || return 0
		_tw_i=$((_tw_i + 1))
	done
}
# sleep_ms <ms>
sleep_ms() {
	sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"
}
# cut_while_tracking <n>: between backups (the increment completed, the
# target records): writers, a cut at another instant, the disks back, the
# same table loaded again (what `dmbackup reinstate` does after a reboot);
# the record holds every completed write and the next increment is exact.
cut_while_tracking() {
	_ct_table=$(dmsetup table bk)
	writers_start "$((r * 10 + $1 + 100))"
	_ct_ms=$((50 + (r * 577 + $1 * 701) % 1500))
	sleep_ms "$_ct_ms"
	power_cut
	wait "$writer" "$seqw" 2>/dev/null
	info "round $r: cut while tracking at $_ct_ms ms"
	run dmsetup remove bk
	power_on
	completed_writes_kept
	run dmsetup create bk --table "$_ct_table"
	[ "$(backup_state bk)" = completed ] ||
		fail "round $r: the increment came back $(backup_status bk)"
	record_holds_completed_writes
	increment_exact
}

r=1
while [ "$r" -le "$rounds" ]; do
	dd if=/dev/zero of="$m" bs=4096 count=2 status=none
	save_image "$o" "$DMBT_TMP/t0"
	track=
	[ $((r % 2)) -eq 1 ] && track="track on"
	# shellcheck disable=SC2086 # word splitting wanted
	set -- $track
	bk_create bk "$o" "$b" full $((6 + $#)) chunk_size 8 speed 524288 meta "$m" $track
	writers_start "$r"
	trail_writer "$((9500 + r))" &
	trailw=$!
	# From 0.05 s to 2.4 s after the start, a different instant each round.
	cut_ms=$((50 + (r * 373) % 2350))
	sleep_ms "$cut_ms"
	before=$(backup_status bk)
	power_cut
	wait "$writer" "$seqw" "$trailw" 2>/dev/null
	info "round $r: cut at $cut_ms ms, status before: $before"
	case $before in *" completed "*) completed_at_cut=$((completed_at_cut + 1)) ;; esac
	run dmsetup remove bk
	power_on
	completed_writes_kept
	run dmsetup create bk --notable
	run dmsetup load bk --table \
		"$(bk_table "$o" "$b" full $((4 + $#)) chunk_size 8 meta "$m" $track)"
	state=$(loaded_state)
	info "round $r: the metadata says $state: $(dmsetup status --inactive bk)"
	case $state in
	running|paused|completed) ;;
	*) fail "round $r: the job came back $state" ;;
	esac
	run dmsetup resume bk
	[ "$state" != paused ] || run dmsetup message bk 0 resume
	wait_state bk completed 120
	same "$b" "$DMBT_TMP/t0"
	if [ -n "$track" ]; then
		record_holds_completed_writes
		increment_exact
		cut_while_tracking 1
		cut_while_tracking 2
	fi
	run dmsetup remove bk
	r=$((r + 1))
done
# A cut after completion proves nothing about the walk: most must not be.
[ "$completed_at_cut" -le $((rounds / 4)) ] ||
	fail "$completed_at_cut of $rounds rounds completed before the cut"
for d in po pb pm; do
	run dmsetup remove "$d"
done
