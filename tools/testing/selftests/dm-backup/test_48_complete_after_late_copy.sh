#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# "completed" means that every chunk's copy has landed and was flushed,
# also a copy that started while the job's completion flush was in flight.
# Here, under on_source_error ignore, the walk skips an unreadable chunk
# and the job is done; its flush to the backup device is slow (dm-delay:
# flushes 20 s, writes 20 s; dm-delay's status shows the flush held).
# Meanwhile the origin is fixed and a write to the skipped chunk makes
# copy-before-write copy it.  Before, the
# flush's end declared the job completed while that copy's backup write
# was still held in dm-delay; now the job looks again after the flush and
# completes only after the copy and a second flush.
# Oracle: when the state turns completed, the backup device (read below
# dm-delay) equals T0 in every chunk, the late one included.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 4) || exit 1		# 64 chunks; chunk 5 unreadable at first
b=$(mkloop 4) || exit 1
n=$(sectors "$o")
fill_random "$o" 481
fill_random "$b" 482
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

reload() {
	run dmsetup load "$1" --table "$2"
	run dmsetup suspend "$1"
	run dmsetup resume "$1"
}
printf '0 640 linear %s 0\n640 128 error\n768 %d linear %s 768\n' \
	"$o" $((n - 768)) "$o" >"$DMBT_TMP/bad"
run dmsetup create org --table "$(cat "$DMBT_TMP/bad")"
run dmsetup create slow --table "0 $n delay $b 0 0 $b 0 20000 $b 0 20000"

# delay_holds <name> <reads> <writes> <flushes>: dm-delay holds that many
# bios now (dmsetup status: "0 <n> delay <reads> <writes> <flushes>").
delay_holds() {
	[ "$(dmsetup status "$1" | cut -d' ' -f4-)" = "$2 $3 $4" ]
}

bk_create bk /dev/mapper/org /dev/mapper/slow full 2 on_source_error ignore
info "the walk skips chunk 5"
wait_until 120 'no flush held: $(dmsetup status slow); $(backup_status bk)' \
	delay_holds slow 0 0 1
# One status, read at once: on a loaded debug kernel a few dmsetup runs
# took as long as the flush is held.
st=$(backup_status bk)
info "walk done, completion flush held: $st"
[ "$(status_word "$st" skipped_chunks)" = 1 ] &&
	[ "$(status_word "$st" progress)" = 63/64 ] ||
	fail "not the completion flush: $st"
[ "$(status_word "$st" state)" = running ] || fail "completed before the flush ended: $st"
reload org "0 $n linear $o 0"
write_at /dev/mapper/bk $((5 * CH + 8192)) 4096 483 "$DMBT_TMP/expect"
info "late copy started: $(backup_status bk)"
[ "$(backup_state bk)" = running ] || fail "completed too soon to test: $(backup_status bk)"

wait_state bk completed 120
info "completed: $(backup_status bk)"
same "$b" "$DMBT_TMP/t0"
[ "$(bk_copied bk)" = 64 ] || fail "completed at $(backup_status bk progress) chunks"
run dmsetup remove bk
same "$o" "$DMBT_TMP/expect"
