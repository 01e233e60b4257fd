#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A running job survives table reloads: a new table naming the same origin
# and backup device takes the job over at resume, with its bitmap, counters,
# state and point in time, while writes are in flight across the suspend.
# Oracles: the backup equals T0 taken before the *first* table, progress
# never goes back, and every chunk is copied exactly once over the whole
# job (dm_backup_copy_done trace events add up to the chunk count).  A job
# taken over is not reported abandoned; one replaced by a table on another
# backup device is.
# timeout: 400
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

T=/sys/kernel/tracing
[ -d $T/events/dm_backup ] || fail "no dm_backup trace events"
o=$(mkloop 32) || exit 1		# 512 chunks
b=$(mkloop 32) || exit 1
o2=$(mkloop 32) || exit 1
fill_random "$o" 131
fill_random "$b" 132
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

reload() {
	run dmsetup load bk --table "$1"
	run dmsetup suspend bk
	run dmsetup resume bk
}
trace_start() {
	echo 0 >$T/tracing_on
	echo >$T/trace
	echo 1 >$T/events/dm_backup/dm_backup_copy_done/enable
	echo 1 >$T/tracing_on
}
# copied_by_trace: chunks copied according to the trace (sum of nr_chunks).
copied_by_trace() {
	grep dm_backup_copy_done $T/trace |
		sed 's/.*nr_chunks \([0-9]*\).*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}

klog0=$(dmesg | wc -l)		# this test's kernel log starts here

# 1 MiB/s, then 512 KiB/s: the writes' copies and the walk must not end the
# job during the reload or before the pause below, even on the debug kernel
# (at 4 MiB/s, and at 2 MiB/s after the reload, they did there).
info "mid-walk reload with another speed, writes in flight across it"
trace_start
bk_create bk "$o" "$b" full 2 speed 1048576
wait_copied bk 64 60
bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" 133 200 2 512 131072 50 0 10 &
io=$!
sleep 0.3
p1=$(bk_copied bk)
reload "$(bk_table "$o" "$b" full 2 speed 524288)"
p2=$(bk_copied bk)
info "progress $p1 before the reload, $p2 after"
[ "$p2" -ge "$p1" ] || fail "progress went back from $p1 to $p2"
[ "$(backup_state bk)" = running ] || fail "state after reload: $(backup_status bk)"
dmsetup table bk | grep -q "speed 524288" || fail "the new speed did not apply"
dmesg | tail -n 20 | grep -q "took over the running job" || fail "no handover logged"
dmesg | tail -n +$((klog0 + 1)) | grep "job abandoned" &&
	fail "a job taken over was reported abandoned"
wait "$io" || fail "writes across the reload failed"

info "reload while paused: stays paused"
run dmsetup message bk 0 pause
p1=$(bk_copied bk)
reload "$(bk_table "$o" "$b" full 2 speed 1048576)"
[ "$(backup_state bk)" = paused ] || fail "state after reload while paused: $(backup_status bk)"
[ "$(bk_copied bk)" -ge "$p1" ] || fail "progress went back"
run dmsetup message bk 0 resume

info "a changed chunk_size or sync_mode is refused and the old job runs on"
if dmsetup load bk --table "$(bk_table "$o" "$b" full 2 chunk_size 256)" 2>/dev/null; then
	fail "a reload with another chunk_size was accepted"
fi
dmesg | tail -n 5 | grep -q "cannot change the chunk_size" || fail "no clear error for chunk_size"
if dmsetup load bk --table "$(bk_table "$o" "$b" none)" 2>/dev/null; then
	fail "a reload with another sync_mode was accepted"
fi
dmesg | tail -n 5 | grep -q "cannot change the sync_mode" || fail "no clear error for sync_mode"
if dmsetup load bk --table "$(bk_table "$o" "$b" full 2 speed 1)" &&
   dmsetup clear bk; then :; else fail "load+clear failed"; fi
dmsetup table bk | grep -q "speed 1048576" ||
	fail "clear changed the live table: $(dmsetup table bk)"
p1=$(bk_copied bk)
sleep 1
# A slow host (the PREEMPT_RT kernel under load) may have let the walk end.
[ "$(bk_copied bk)" -gt "$p1" ] || state_is bk completed ||
	fail "the old job stopped after load+clear: $(backup_status bk)"

info "two devices may not share a backup device"
if dmsetup create other --table "$(bk_table "$o2" "$b" full)" 2>/dev/null; then
	fail "a second device was allowed to write the same backup device"
fi
dmesg | tail -n 5 | grep -q "in use by another backup job" ||
	fail "no clear error for a shared backup device"

info "finish, then reload after completion"
run dmsetup message bk 0 speed 0
wait_state bk completed 120
reload "$(bk_table "$o" "$b" full)"
[ "$(backup_state bk)" = completed ] || fail "state after reload: $(backup_status bk)"
[ "$(bk_copied bk)" -eq 512 ] || fail "progress after reload: $(backup_status bk)"
write_at /dev/mapper/bk 4096 4096 134 "$DMBT_TMP/expect"
echo 0 >$T/tracing_on
n=$(copied_by_trace)
info "chunks copied over the whole job: $n"
[ "$n" -eq 512 ] || fail "$n chunk copies for 512 chunks: the job started over or copied twice"
echo 0 >$T/events/dm_backup/dm_backup_copy_done/enable
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"

info "a table with another backup device starts a new job"
b3=$(mkloop 32) || exit 1
reload "$(bk_table "$o" "$b3" full)"
wait_state bk completed 60
save_image "$o" "$DMBT_TMP/t1"
same "$b3" "$DMBT_TMP/t1"

info "a running job replaced by a table on another backup device is abandoned, visibly"
b4=$(mkloop 32) || exit 1
b5=$(mkloop 32) || exit 1
reload "$(bk_table "$o" "$b4" full 2 speed 1048576)"
[ "$(backup_state bk)" = running ] || fail "the job on $b4 is not running: $(backup_status bk)"
reload "$(bk_table "$o" "$b5" full 2 speed 1048576)"
dmesg | tail -n 20 | grep -q "job abandoned while running" ||
	fail "replacing the running job on $b4 logged no 'job abandoned'"
run dmsetup remove bk
