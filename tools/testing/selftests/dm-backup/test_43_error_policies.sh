#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The walk's error policies on each side, with dm-error segments in the
# origin (source) or in the backup device (target), and a thin pool with
# error_if_no_space that runs out of space (enospc):
#   report  the job fails;
#   ignore  the failed chunks are skipped and counted, the job completes;
#   stop    the job pauses; after the device is fixed (table reload),
#           "resume" retries the chunk and the backup ends exact;
#   enospc  stop on ENOSPC, report on other errors.
# In every case the origin keeps every write.
# timeout: 600
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

MB=2048				# sectors per MiB
o=$(mkloop 32) || exit 1	# 512 chunks; the bad zone is MiB 8-12 (chunks 128-191)
b=$(mkloop 32) || exit 1
fill_random "$o" 101
save_image "$o" "$DMBT_TMP/t0"

# reload <name> <table>: swap a live device's table.
reload() {
	run dmsetup load "$1" --table "$2"
	run dmsetup suspend "$1"
	run dmsetup resume "$1"
}
good() { echo "0 $((32 * MB)) linear $1 0"; }
bad() {
	printf '0 %d linear %s 0\n%d %d error\n%d %d linear %s %d\n' \
		$((8 * MB)) "$1" $((8 * MB)) $((4 * MB)) $((12 * MB)) $((20 * MB)) "$1" $((12 * MB))
}
# outside_bad_zone <a> <b>: equal except in MiB 8-12.
outside_bad_zone() {
	drop_caches "$1" "$2"
	cmp -n $((8 * 1048576)) "$1" "$2" || fail "$1 and $2 differ before the bad zone"
	cmp -i $((12 * 1048576)) "$1" "$2" || fail "$1 and $2 differ after the bad zone"
}
# some_writes: writes in MiB 0-8 and 12-32 (the bad zone is unreadable).
some_writes() {
	write_at /dev/mapper/bk $((1 * 1048576 + 512)) 70144 "$1" "$DMBT_TMP/expect"
	write_at /dev/mapper/bk $((20 * 1048576)) 200192 "$1" "$DMBT_TMP/expect"
}
# start <policy words> <origin> <backup>
start() {
	cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
	fill_random "$b" 102
	bk_create bk "$2" "$3" full 2 $1
}
finish() {
	same "$o" "$DMBT_TMP/expect"
	run dmsetup remove bk
	save_image "$o" "$DMBT_TMP/t0"	# the next job's point in time
}

run dmsetup create org --table "$(bad "$o")"
run dmsetup create bkd --table "$(bad "$b")"

info "source report: the job fails"
start "on_source_error report" /dev/mapper/org "$b"
some_writes 1
wait_state bk failed 60
[ "$(backup_status bk last_error)" = -5 ] || fail "last_error $(backup_status bk last_error)"
c=$(backup_status bk last_error_chunk)
[ "$c" -ge 128 ] && [ "$c" -lt 192 ] || fail "failed chunk $c is outside the bad zone"
[ "$(backup_status bk source_errors)" -ge 1 ] || fail "source_errors not counted"
dmesg | tail -n 20 | grep -q "failed on origin read: error -5" || fail "no log line"
finish

info "source ignore: bad chunks are skipped and counted, the job completes"
start "on_source_error ignore" /dev/mapper/org "$b"
some_writes 2
wait_state bk completed 60
info "status: $(backup_status bk)"
[ "$(backup_status bk skipped_chunks)" -eq 64 ] ||
	fail "skipped $(backup_status bk skipped_chunks) chunks, want 64"
[ "$(bk_copied bk)" -eq 448 ] || fail "copied $(bk_copied bk), want 448"
outside_bad_zone "$b" "$DMBT_TMP/t0"
finish

info "source stop: pause, fix the origin, resume, exact"
start "on_source_error stop" /dev/mapper/org "$b"
wait_state bk paused 60
[ "$(backup_status bk last_error)" = -5 ] || fail "status does not show the error"
some_writes 3
reload org "$(good "$o")"
run dmsetup message bk 0 resume
wait_state bk completed 60
same "$b" "$DMBT_TMP/t0"
finish
reload org "$(bad "$o")"

info "target ignore"
start "on_target_error ignore" "$o" /dev/mapper/bkd
some_writes 4
wait_state bk completed 60
[ "$(backup_status bk skipped_chunks)" -eq 64 ] ||
	fail "skipped $(backup_status bk skipped_chunks) chunks, want 64"
[ "$(backup_status bk target_errors)" -ge 1 ] || fail "target_errors not counted"
outside_bad_zone "$b" "$DMBT_TMP/t0"
finish

info "target stop: pause, fix the backup device, resume, exact"
start "on_target_error stop" "$o" /dev/mapper/bkd
wait_state bk paused 60
some_writes 5
reload bkd "$(good "$b")"
run dmsetup message bk 0 resume
wait_state bk completed 60
same "$b" "$DMBT_TMP/t0"
finish
reload bkd "$(bad "$b")"

info "target enospc on EIO: reported"
start "on_target_error enospc" "$o" /dev/mapper/bkd
wait_state bk failed 60
some_writes 6
finish

info "target enospc on a thin pool out of space: stop, grow, resume, exact"
meta=$(mkloop 8) || exit 1
data=$(mkloop 40) || exit 1
run dmsetup create pdata --table "0 $((8 * MB)) linear $data 0"
pool_table() {
	echo "0 $1 thin-pool $meta /dev/mapper/pdata 128 0 1 error_if_no_space"
}
run dmsetup create pool --table "$(pool_table $((8 * MB)))"
run dmsetup message pool 0 "create_thin 0"
run dmsetup create thin --table "0 $((32 * MB)) thin /dev/mapper/pool 0"
start "on_target_error enospc" "$o" /dev/mapper/thin
wait_state bk paused 60
info "status: $(backup_status bk)"
[ "$(backup_status bk last_error)" = -28 ] ||
	fail "last_error $(backup_status bk last_error), want -28 (ENOSPC)"
# Only to copied chunks: the copy of an uncopied one would hit ENOSPC too,
# and on_cbw_error break_backup would fail the job.
write_at /dev/mapper/bk 1049088 70144 7 "$DMBT_TMP/expect"
run dmsetup suspend pool
reload pdata "0 $((40 * MB)) linear $data 0"
run dmsetup load pool --table "$(pool_table $((40 * MB)))"
run dmsetup resume pool
run dmsetup message bk 0 resume
wait_state bk completed 60
same /dev/mapper/thin "$DMBT_TMP/t0"
finish
run dmsetup remove thin
run dmsetup remove pool
