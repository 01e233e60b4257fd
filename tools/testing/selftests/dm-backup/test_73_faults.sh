#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Faults during copies, on both sides:
#   A  backup behind dm-flakey (1 s up, 1 s down, error_writes), writers on
#   B  backup behind dm-flakey with on_cbw_error fail_write: failed copies
#      fail the writes that waited on them, which never reach the origin
#   C  origin behind dm-flakey (all I/O fails while down), walk only, with
#      on_source_error report and ignore; writes after the fault is gone
#   D  dm-delay on both sides (origin 20 ms, backup 150 ms writes), writers
#   E  the backup device vanishes mid-walk (its linear table swapped for an
#      error table), writers on, report and ignore
# Oracles after every fault: the origin holds every acknowledged write (the
# expected image); the backup is exact (== T0) whenever the state is
# "completed" with no skipped chunks, and otherwise the status says failed
# or counts skipped chunks: never "completed" and wrong.
# timeout: 400
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

size=16
o=$(mkloop $size) || exit 1
b=$(mkloop $size) || exit 1
n=$(sectors "$o")
fill_random "$o" 73

# start <origin> <backup> <opt words...>: fresh T0, expected image and job
start() {
	_o=$1 _b=$2
	shift 2
	save_image "$o" "$DMBT_TMP/t0"
	cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
	fill_random "$b" $$		# garbage, so a missed chunk shows
	bk_create bk "$_o" "$_b" full "$@"
}
# writers <seed> <ops> [io opts]: 4 writers, wait for them
writers() {
	run bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" "$1" "$2" 4 4096 196608 ${3:-70 5 5}
}
# verdict: wait for the job to end, apply the oracles
verdict() {
	wait_until 120 'job did not end: $(backup_status bk)' state_not bk running paused
	st=$(backup_status bk)
	info "status: $st"
	same "$o" "$DMBT_TMP/expect"
	case $(backup_state bk) in
	completed)
		if [ "$(backup_status bk skipped_chunks)" -eq 0 ]; then
			same "$b" "$DMBT_TMP/t0"
		else
			info "completed with $(backup_status bk skipped_chunks)" \
			     "skipped chunks (not exact)"
		fi ;;
	failed)
		[ "$(backup_status bk last_error)" -lt 0 ] ||
			fail "failed without last_error: $st" ;;
	*) fail "unexpected state: $st" ;;
	esac
	run dmsetup remove bk
}

info "A: backup side dm-flakey, error_writes, writers on"
run dmsetup create flb --table "0 $n flakey $b 0 1 1 1 error_writes"
start "$o" /dev/mapper/flb 2 speed 4194304
writers 1 400
verdict
[ "$(status_word "$st" state)" = failed ] || [ "$(status_word "$st" state)" = completed ] ||
	fail "A: $st"

info "B: backup side dm-flakey, on_cbw_error fail_write"
start "$o" /dev/mapper/flb 4 speed 4194304 on_cbw_error fail_write
# Failed writes are not mirrored by bkp-io and must not reach the origin.
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 2 300 4 4096 131072 100 0 0 >"$DMBT_TMP/io" 2>&1
info "bkp-io rc=$?: $(tail -n 1 "$DMBT_TMP/io")"
verdict
run dmsetup remove flb

info "C: origin side dm-flakey (all I/O fails while down), walk only"
run dmsetup create flo --table "0 $n flakey $o 0 1 1"
for pol in report ignore; do
	start /dev/mapper/flo "$b" 4 speed 4194304 on_source_error $pol
	wait_until 60 'C: walk did not end: $(backup_status bk)' state_not bk running
	info "C $pol: $(backup_status bk)"
	# The fault is gone: the origin behind the job is fixed, writes go on.
	run dmsetup load flo --table "0 $n linear $o 0"
	run dmsetup suspend flo
	run dmsetup resume flo
	write_at /dev/mapper/bk 1048576 65536 31 "$DMBT_TMP/expect"
	write_at /dev/mapper/bk 7340544 4096 32 "$DMBT_TMP/expect"
	verdict
	run dmsetup load flo --table "0 $n flakey $o 0 1 1"
	run dmsetup suspend flo
	run dmsetup resume flo
done
run dmsetup remove flo

info "D: dm-delay on both sides, writers on"
run dmsetup create dlo --table "0 $n delay $o 0 20"
run dmsetup create dlb --table "0 $n delay $b 0 0 $b 0 150"
start /dev/mapper/dlo /dev/mapper/dlb 2 speed 4194304
writers 4 200
verdict
[ "$(status_word "$st" state)" = completed ] || fail "D: delays alone failed the job: $st"
run dmsetup remove dlo
run dmsetup remove dlb

info "E: the backup device vanishes mid-walk"
for pol in report ignore; do
	run dmsetup create bkd --table "0 $n linear $b 0"
	start "$o" /dev/mapper/bkd 4 speed 1048576 on_target_error $pol
	sleep 1
	# The walk holds still while the device goes, so that a slow host
	# cannot let it copy everything first (then there is nothing to
	# test); the writes start on the vanished device, the walk resumes.
	run dmsetup message bk 0 pause
	[ "$(bk_copied bk)" -lt "$(bk_total bk)" ] ||
		fail "E: everything was copied before the device vanished: $(backup_status bk)"
	run dmsetup load bkd --table "0 $n error"
	run dmsetup suspend bkd
	run dmsetup resume bkd
	bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 5 400 4 4096 131072 50 5 5 \
		>"$DMBT_TMP/io" 2>&1 &
	wpid=$!
	# Refused only when a write's copy has failed the job already.
	dmsetup message bk 0 resume 2>/dev/null || state_is bk failed ||
		fail "E: resume refused: $(backup_status bk)"
	wait $wpid ||
		fail "E: writes failed (break_backup must keep them going): $(cat "$DMBT_TMP/io")"
	verdict
	case $pol in
	report) echo "$st" | grep -q '^full failed ' || fail "E report: $st" ;;
	ignore) echo "$st" | grep -q '^full completed ' &&
			[ "$(status_word "$st" skipped_chunks)" -gt 0 ] ||
			echo "$st" | grep -q '^full failed ' || fail "E ignore: $st" ;;
	esac
	run dmsetup remove bkd
done
