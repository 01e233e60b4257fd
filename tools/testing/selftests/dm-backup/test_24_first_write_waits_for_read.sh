#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A first write to an uncopied chunk waits for the origin read of its copy,
# not for the backup write: the old data is safe in the copy's buffer.
# Made deterministic by a "gate", a dm-linear device over the backup file
# that is suspended, so that backup writes queue in it:
#   - on_cbw_error break_backup (default): writes to the chunk return while
#     the gate is shut and the chunk's copy has not landed (cbw 0); once
#     the gate opens the copy lands and holds the T0 data;
#   - on_cbw_error fail_write: a write must be able to fail with its copy,
#     so it still waits for the backup write: it is pending while the gate
#     is shut and returns once it opens.
# Oracles: the chunk on the backup device against T0, the origin against
# T0 + writes, the cbw counter.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 4) || exit 1		# 64 chunks
b=$(mkloop 4) || exit 1
fill_random "$o" 31
fill_random "$b" 32
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
n=$(sectors "$b")
run dmsetup create gate --table "0 $n linear $b 0"
# Whatever happens, open the gate on the way out: a write stuck behind it
# would keep the test's output open and hang the run instead of failing it.
trap 'dmsetup resume gate 2>/dev/null' EXIT

# chunk_is_t0 <chunk>: the backup device holds the T0 data of <chunk>.
chunk_is_t0() {
	chunk_of "$b" "$1" $CH "$DMBT_TMP/bc"
	chunk_of "$DMBT_TMP/t0" "$1" $CH "$DMBT_TMP/tc"
	same "$DMBT_TMP/bc" "$DMBT_TMP/tc"
}

# write_bg <offset> <bytes> <seed>: write_at in the background; the
# marker file $DMBT_TMP/done.<seed> appears when it returned.
write_bg() {
	rm -f "$DMBT_TMP/done.$3"
	(write_at /dev/mapper/bk "$1" "$2" "$3" "$DMBT_TMP/expect" &&
		touch "$DMBT_TMP/done.$3") &
}

# wait_done <seed> <timeout_s> <why>: until the write of that seed returned.
wait_done() {
	wait_until "$2" "$3" test -e "$DMBT_TMP/done.$1"
}

info "break_backup: writes return while the backup write is held"
bk_create bk "$o" /dev/mapper/gate none
run dmsetup suspend gate
write_bg $((3 * CH + 4096)) 4096 41
wait_done 41 120 \
	'the write did not return while the backup device was suspended: $(backup_status bk)'
[ "$(bk_cbw bk)" -eq 0 ] ||
	fail "the copy landed on a suspended backup device: $(backup_status bk)"
info "a second write to the chunk whose copy is in flight passes too"
write_bg $((3 * CH)) 512 42
wait_done 42 120 'the second write waited for the backup write'
[ "$(bk_cbw bk)" -eq 0 ] || fail "cbw $(bk_cbw bk) with the gate shut"
[ "$(backup_state bk)" = running ] || fail "job: $(backup_status bk)"
run dmsetup resume gate
wait_cbw bk 1
[ "$(bk_cbw bk)" -eq 1 ] || fail "cbw $(bk_cbw bk), want 1: $(backup_status bk)"
chunk_is_t0 3
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk

info "fail_write: the write waits for the backup write"
bk_create bk "$o" /dev/mapper/gate none 2 on_cbw_error fail_write
run dmsetup suspend gate
write_bg $((7 * CH + 8192)) 8192 43
sleep 3
[ -e "$DMBT_TMP/done.43" ] &&
	fail "under fail_write a write returned before its copy landed"
[ "$(bk_cbw bk)" -eq 0 ] || fail "cbw $(bk_cbw bk) with the gate shut"
run dmsetup resume gate
wait_done 43 120 'the write did not return after the gate opened'
[ "$(bk_cbw bk)" -eq 1 ] || fail "cbw $(bk_cbw bk), want 1: $(backup_status bk)"
chunk_is_t0 7
wait
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
run dmsetup remove gate
