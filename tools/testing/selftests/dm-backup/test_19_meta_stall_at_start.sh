#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A metadata device that hangs at the start of a job must not freeze the
# volume: the first resume, which formats the device (a new job) or
# writes an increment's first superblock, runs with the volume suspended.
# The metadata device here answers reads but holds superblock writes
# (dm-delay: reads from the loop device, writes through a table whose
# first 16 sectors go to "sbgate", suspended with --noflush).
#
# A new job: the resume fails within cbw_timeout (2 s, checked <= 15 s)
# and logs it; the volume's linear table resumes and takes writes; no
# table loads on the device while the abandoned write is in flight; once
# sbgate resumes, the late superblock is undone: the device is zeroed
# again (its first 8 KiB are zeroes) and a new job formats it.
#
# An increment of a tracking job: its resume fails the same way; the
# tracking table cannot load meanwhile, so the volume goes on with its
# linear table and is written untracked; once the late write has ended,
# the parent's record is marked lost (status "lost"), and an increment of
# it is refused: the record never misses a write silently.  Oracle: the
# volume's data is the image of the writes (expect), the device's bytes.
# tier: kernel
# timeout: 240
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CHUNK=65536
o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
m=$(mkloop 1) || exit 1
S=$(sectors "$o")
fill_random "$o" 4900
cp "$o" "$DMBT_TMP/expect" 2>/dev/null ||
	dd if="$o" of="$DMBT_TMP/expect" bs=1M status=none || fail "cannot image $o"
run dmsetup create volo --table "0 $S linear $o 0"
run dmsetup create vol --table "0 $S linear /dev/mapper/volo 0"
LINEAR="0 $S linear /dev/mapper/volo 0"

# The metadata device "mdev", its superblock writes held by "sbgate".
run dd if=/dev/zero of="$m" bs=1M count=1 oflag=direct status=none
held_meta "$m"

# Held writes go on whatever ends the test: a hung resume would stay hung
# through the cleanup, and a device removed with bios held leaks them.
trap 'dmsetup resume sbgate 2>/dev/null' EXIT

# resume_fails_soon: resume vol with the metadata superblocks held; it
# must fail within 15 s (cbw_timeout is 2 s) and log why.
resume_fails_soon() {
	run dmsetup suspend --noflush sbgate
	_rf_t0=$(date +%s)
	dmsetup resume vol 2>"$DMBT_TMP/resume.err" &
	_rf_pid=$!
	_rf_n=0
	while ! proc_gone $_rf_pid; do
		_rf_n=$((_rf_n + 1))
		[ $_rf_n -le 150 ] ||
			fail "the resume of vol hangs on the metadata device (15 s)"
		sleep 0.1
	done
	if wait $_rf_pid; then
		fail "the resume succeeded although its superblock was not written"
	fi
	info "the resume failed after $(($(date +%s) - _rf_t0)) s: $(cat "$DMBT_TMP/resume.err")"
	dmesg | tail -n 20 | grep -q "did not answer within 2000 ms" ||
		fail "not logged: $(dmesg | tail -n 3)"
}

# linear_back <seed> <chunk>: the volume's own table again; a write goes
# through it within 10 s.
linear_back() {
	run dmsetup load vol --table "$LINEAR"
	run dmsetup resume vol
	write_at /dev/mapper/vol $(($2 * CHUNK)) 4096 "$1" "$DMBT_TMP/expect" &
	_lb_pid=$!
	wait_until 10 'a write to the volume hangs' proc_gone $_lb_pid
	wait $_lb_pid || fail "a write to the volume failed"
}

info "a new job: its format's superblock is held"
run dmsetup load vol --table "$(bk_table /dev/mapper/volo "$b" full 4 cbw_timeout 2000 \
	meta /dev/mapper/mdev)"
resume_fails_soon
linear_back 4901 3
expect_ctr_error "still has I/O in flight" \
	"$(bk_table /dev/mapper/volo "$b" full 2 meta /dev/mapper/mdev)"
late_undone
superblocks_zero "$m" ||
	fail "the late superblock of a job that never went live is on the device"
same /dev/mapper/vol "$DMBT_TMP/expect"

info "a tracking job, then an increment whose first superblock is held"
TRACK="$(bk_table /dev/mapper/volo "$b" full 6 cbw_timeout 2000 meta /dev/mapper/mdev track on)"
run dmsetup load vol --table "$TRACK"
run dmsetup resume vol
wait_state vol completed 60
write_at /dev/mapper/vol $((5 * CHUNK)) 4096 4902 "$DMBT_TMP/expect"
[ "$(backup_status vol changed)" = 1 ] || fail "record: $(backup_status vol)"
uuid=$(backup_status vol job_uuid)
INC="$(bk_table /dev/mapper/volo "$b" top 8 cbw_timeout 2000 meta /dev/mapper/mdev \
	track on increment "$uuid")"
run dmsetup load vol --table "$INC"
resume_fails_soon
info "no table loads on the metadata device while the write is in flight"
if dmsetup load vol --table "$TRACK" 2>/dev/null; then
	fail "the tracking table loaded on a device with a write in flight"
fi
linear_back 4903 9
expect_ctr_error "still has I/O in flight" "$TRACK"
late_undone
run dmsetup suspend vol
run dmsetup load vol --table "$TRACK"
run dmsetup resume vol
[ "$(backup_status vol changed)" = lost ] ||
	fail "the record missed a write and does not say so: $(backup_status vol)"
[ "$(backup_status vol job_uuid)" = "$uuid" ] || fail "not job $uuid: $(backup_status vol)"
run dmsetup suspend vol
run dmsetup load vol --table "$LINEAR"
run dmsetup resume vol
expect_ctr_error "lost its change record" \
	"$(bk_table /dev/mapper/volo "$b" top 6 meta /dev/mapper/mdev track on increment "$uuid")"
same /dev/mapper/vol "$DMBT_TMP/expect"
