#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A completion flush that the backup device never answers holds nothing.
# The walk has copied every chunk and the job flushes the backup device
# before it says "completed"; here the flush sits in dm-delay (flushes
# held 10 minutes).  Meanwhile:
#   - the state stays "running" (not completed: the image is not durable);
#   - `dmsetup suspend` and `resume` of the job's device complete at once
#     (the worker does not wait for the flush), and writes pass;
#   - once the flush gets through (dm-delay's suspend sends what it holds),
#     the job completes, and the backup equals T0.
# Then the same with cancel during the flush: the job says cancelled, and
# its table is removed while the flush still hangs.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 8) || exit 1
b=$(mkloop 8) || exit 1
n=$(sectors "$o")
fill_random "$o" 291
fill_random "$b" 292
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmsetup create slow --table "0 $n delay $b 0 0 $b 0 0 $b 0 600000"
# dm-delay's suspend sends the bios it holds: whatever happens, the held
# flush goes before the test ends.
trap 'dmsetup suspend slow 2>/dev/null; dmsetup resume slow 2>/dev/null' EXIT

# flush_held: every chunk copied, still running (its flush is held).
flush_held() {
	wait_copied bk "$(bk_total bk)" 60
	sleep 1
	[ "$(backup_state bk)" = running ] ||
		fail "the job did not wait for its flush: $(backup_status bk)"
}

bk_create bk "$o" /dev/mapper/slow full
flush_held
info "suspend and resume while the completion flush hangs"
run timeout 30 dmsetup suspend bk
run timeout 30 dmsetup resume bk
write_at /dev/mapper/bk $((3 * CH)) 4096 293 "$DMBT_TMP/expect"
[ "$(backup_state bk)" = running ] || fail "job: $(backup_status bk)"
info "the flush gets through: completed"
run dmsetup suspend slow
run dmsetup resume slow
wait_state bk completed 30
run dmsetup remove bk
same "$b" "$DMBT_TMP/t0"
same "$o" "$DMBT_TMP/expect"

info "cancel during the flush; remove while it hangs"
save_image "$o" "$DMBT_TMP/t0"
bk_create bk "$o" /dev/mapper/slow full
flush_held
run dmsetup message bk 0 cancel
wait_state bk cancelled 10
run timeout 30 dmsetup remove bk
run dmsetup suspend slow
run dmsetup resume slow
sleep 1
run dmsetup remove slow
