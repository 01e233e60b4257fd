#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A tracking job whose metadata device hangs while it commits: the
# device answers reads but holds every write (held_meta all: dm-delay,
# writes through "sbgate", suspended with --noflush).  A write to an
# unmarked chunk goes on after cbw_timeout (2 s) with the record marked
# lost; the commit stays in flight.  Then:
#
# Stop tracking (the linear table replaces the tracking one, as dmbackup
# finish --stop-tracking does): the resume, which destroys the tracking
# table, returns within 15 s; the volume takes writes; no new job opens
# the metadata device while the commit is in flight.  Once sbgate
# resumes, the end of the job is logged and the record, continued by the
# same table, says lost.
#
# An increment, the tracking job under on_cbw_error fail_write (so the
# write that met the hung commit fails after cbw_timeout and the record
# stays exact): the increment's resume fails within 15 s (it must not wait
# for the commit for ever with the volume suspended, nor start, as the
# commit would land over its superblock), and says why; the volume's
# linear table resumes and takes writes, untracked.  Once sbgate resumes,
# the record says lost and an increment of it is refused.
#
# Oracle: the volume's data is the image of the writes (expect).
# tier: kernel
# timeout: 300
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CHUNK=65536
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
m=$(mkloop 1) || exit 1
S=$(sectors "$o")
fill_random "$o" 1700
dd if="$o" of="$DMBT_TMP/expect" bs=1M status=none || fail "cannot image $o"
run dmsetup create volo --table "0 $S linear $o 0"
run dmsetup create vol --table "0 $S linear /dev/mapper/volo 0"
LINEAR="0 $S linear /dev/mapper/volo 0"
held_meta "$m" all
# Held writes go on whatever ends the test: a device removed with bios
# held leaks them.
trap 'dmsetup resume sbgate 2>/dev/null' EXIT
TRACK="$(bk_table /dev/mapper/volo "$b" full 6 cbw_timeout 2000 meta /dev/mapper/mdev track on)"
TRACKF="$(bk_table /dev/mapper/volo "$b" full 8 cbw_timeout 2000 on_cbw_error fail_write \
	meta /dev/mapper/mdev track on)"

# tracking_job <table>: a new tracking job on vol, its copy completed, one
# chunk (1) recorded.
tracking_job() {
	run dd if=/dev/zero of="$m" bs=1M count=1 oflag=direct status=none
	run dmsetup suspend vol
	run dmsetup load vol --table "$1"
	run dmsetup resume vol
	wait_state vol completed 60
	write_at /dev/mapper/vol $((1 * CHUNK)) 4096 1701 "$DMBT_TMP/expect"
	[ "$(backup_status vol changed)" = 1 ] || fail "record: $(backup_status vol)"
}

# commit_hangs <seed> <chunk>: hold the metadata device's writes; a write
# to an unmarked chunk goes on within 10 s and the record says lost.
commit_hangs() {
	run dmsetup suspend --noflush sbgate
	write_at /dev/mapper/vol $(($2 * CHUNK)) 4096 "$1" "$DMBT_TMP/expect" &
	_ch_pid=$!
	wait_until 10 'a write waits for a commit that hangs' proc_gone $_ch_pid
	wait $_ch_pid || fail "the write failed"
	[ "$(backup_status vol changed)" = lost ] ||
		fail "the record missed a write and does not say so: $(backup_status vol)"
}

# resume_soon <what>: resume vol in the background; it must end within
# 15 s.  Its exit status is the resume's.
resume_soon() {
	dmsetup resume vol 2>"$DMBT_TMP/resume.err" &
	_rs_pid=$!
	_rs_n=0
	while ! proc_gone $_rs_pid; do
		_rs_n=$((_rs_n + 1))
		[ $_rs_n -le 150 ] ||
			fail "$1 hangs on the metadata device (15 s)"
		sleep 0.1
	done
	wait $_rs_pid
}

# writes_go <seed> <chunk>: a write to the volume ends within 10 s.
writes_go() {
	write_at /dev/mapper/vol $(($2 * CHUNK)) 4096 "$1" "$DMBT_TMP/expect" &
	_wg_pid=$!
	wait_until 10 'a write to the volume hangs' proc_gone $_wg_pid
	wait $_wg_pid || fail "a write to the volume failed"
}

# commit_ends: release the metadata device's writes; the end of the job
# whose table went is logged within 15 s.
commit_ends() {
	run dmsetup resume sbgate
	wait_until 15 'the end of the job is not logged: $(dmesg | tail -n 3)' \
		sh -c 'dmesg | tail -n 20 | grep -q "of a job whose table went has ended"'
}

# lost_once_answered <table> <seed> <chunk>: the volume's linear table is
# live and takes a write, untracked; no job opens the metadata device
# while the commit hangs; once the device answers, <table> continues job
# $uuid, whose record says lost; then the linear table again.
lost_once_answered() {
	writes_go "$2" "$3"
	expect_ctr_error "still has a commit in flight" "$TRACK"
	commit_ends
	run dmsetup suspend vol
	run dmsetup load vol --table "$1"
	run dmsetup resume vol
	[ "$(backup_status vol job_uuid)" = "$uuid" ] ||
		fail "not job $uuid: $(backup_status vol)"
	[ "$(backup_status vol changed)" = lost ] ||
		fail "the record misses writes and does not say so: $(backup_status vol)"
	run dmsetup suspend vol
	run dmsetup load vol --table "$LINEAR"
	run dmsetup resume vol
}

info "stop tracking while a commit hangs"
tracking_job "$TRACK"
uuid=$(backup_status vol job_uuid)
commit_hangs 1702 3
run dmsetup suspend vol
run dmsetup load vol --table "$LINEAR"
resume_soon "the resume that replaces the tracking table" ||
	fail "the linear table did not resume: $(cat "$DMBT_TMP/resume.err")"
dmesg | tail -n 20 | grep -q "last commit of a removed table's job is left in flight" ||
	fail "the commit left in flight is not logged: $(dmesg | tail -n 3)"
lost_once_answered "$TRACK" 1703 4
same /dev/mapper/vol "$DMBT_TMP/expect"

info "an increment while a commit hangs"
tracking_job "$TRACKF"
uuid=$(backup_status vol job_uuid)
run dmsetup suspend --noflush sbgate
if (write_at /dev/mapper/vol $((5 * CHUNK)) 4096 1704 "$DMBT_TMP/w5") 2>/dev/null; then
	fail "a write whose mark was not committed went on under fail_write"
fi
[ "$(backup_status vol changed)" = 1 ] ||
	fail "the record is not exact under fail_write: $(backup_status vol)"
INC="$(bk_table /dev/mapper/volo "$b" top 8 cbw_timeout 2000 meta /dev/mapper/mdev \
	track on increment "$uuid")"
run dmsetup load vol --table "$INC"
run dmsetup suspend vol
if resume_soon "the increment's resume"; then
	fail "the increment started while its parent's commit hangs"
fi
info "the resume failed: $(cat "$DMBT_TMP/resume.err")"
dmesg | tail -n 20 | grep -q "the increment cannot start: the tracking job's commit did not end" ||
	fail "not logged: $(dmesg | tail -n 3)"
run dmsetup load vol --table "$LINEAR"
resume_soon "the linear table's resume" ||
	fail "the linear table did not resume: $(cat "$DMBT_TMP/resume.err")"
lost_once_answered "$TRACKF" 1705 6
expect_ctr_error "lost its change record" \
	"$(bk_table /dev/mapper/volo "$b" top 6 meta /dev/mapper/mdev track on increment "$uuid")"
same /dev/mapper/vol "$DMBT_TMP/expect"
