# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the dmbackup CLI tests (test_6x_*); source after lib.sh and
# backup.sh.

command -v dmbackup >/dev/null ||
	skip "dmbackup (the CLI of the dm-backup repository, tools/dmbackup) is not installed"

# mkvol <name> <disk>: an LVM-style volume, dm-linear over the whole disk.
mkvol() {
	run dmsetup create "$1" --table "0 $(sectors "$2") linear $2 0"
}

# table_of <name>: the live table, or "" when the device does not exist.
table_of() {
	dmsetup table "$1" 2>/dev/null
}

# expect_refusal <pattern> <cmd...>: cmd must exit 1 and say pattern.
expect_refusal() {
	_er_pat=$1
	shift
	_er_out=$("$@" 2>&1)
	_er_rc=$?
	echo "  $* -> rc $_er_rc: $_er_out"
	[ "$_er_rc" -eq 1 ] || fail "$*: exit code $_er_rc, want 1 (output: $_er_out)"
	echo "$_er_out" | grep -q -- "$_er_pat" || fail "$*: no '$_er_pat' in: $_er_out"
}

# expect_injected <steps> <dmbackup args...>: dmbackup run with
# DMBACKUP_FAIL_AT=<steps> must fail (exit code 1) at an injected step; its
# output is kept in $DMBT_TMP/out.
expect_injected() {
	_ei_steps=$1
	shift
	DMBACKUP_FAIL_AT=$_ei_steps dmbackup "$@" >"$DMBT_TMP/out" 2>&1
	_ei_rc=$?
	cat "$DMBT_TMP/out"
	[ $_ei_rc -eq 1 ] || fail "dmbackup $* failing at $_ei_steps: exit code $_ei_rc, want 1"
	grep -q "simulating a failure" "$DMBT_TMP/out" || fail "the step $_ei_steps was not reached"
}

# vol_untouched <name> <table> [disk image]: the volume has exactly its
# original table, live, not suspended, without an inactive table, and no
# hidden device exists; with an image, the disk still equals it.
vol_untouched() {
	[ "$(table_of "$1")" = "$2" ] ||
		fail "$1: table is '$(table_of "$1")', want '$2'"
	_vu_info=$(dmsetup info "$1")
	echo "$_vu_info" | grep -q '^State: *ACTIVE' || fail "$1 is not active: $_vu_info"
	echo "$_vu_info" | grep -q '^Tables present: *LIVE$' ||
		fail "$1: tables present: $_vu_info"
	! dmsetup info "$1-dmbackup-origin" >/dev/null 2>&1 ||
		fail "the hidden device $1-dmbackup-origin is left over"
	[ ! -e "/dev/mapper/$1-dmbackup-origin" ] ||
		fail "/dev/mapper/$1-dmbackup-origin is left over"
	[ -z "${3:-}" ] || same "/dev/mapper/$1" "$3"
}

# fs_release <mountpoint>: thaw and lazily unmount it (for a test's EXIT
# trap: a test that failed must not leave a frozen file system behind).
fs_release() {
	fsfreeze --unfreeze "$1" 2>/dev/null
	umount -l "$1" 2>/dev/null
}

# mkfs_mount <dev> <mountpoint> <files> <seed>: a fresh ext4 on dev mounted
# there, with files before-1..before-<files> of 1 MiB each (prng seeds
# seed+1, seed+2, ...) written and synced.
mkfs_mount() {
	run mke2fs -q -t ext4 -F "$1"
	mkdir -p "$2"
	run mount -t ext4 "$1" "$2"
	_mm_i=1
	while [ $_mm_i -le "$3" ]; do
		dmbt-prng $(($4 + _mm_i)) 1M >"$2/before-$_mm_i"
		_mm_i=$((_mm_i + 1))
	done
	sync
}

# before_intact <mountpoint> <files> <seed>: the files of mkfs_mount are
# still as written.
before_intact() {
	_bi_i=1
	while [ $_bi_i -le "$2" ]; do
		dmbt-prng $(($3 + _bi_i)) 1M | cmp -s - "$1/before-$_bi_i" ||
			fail "before-$_bi_i damaged"
		_bi_i=$((_bi_i + 1))
	done
}

# frozen_start <mountpoint> <dev> <backup> [dmbackup start options...]:
# freeze the file system, read the T0 image of dev ($DMBT_TMP/t0, O_DIRECT),
# `dmbackup start dev backup options`, thaw.  Nothing changes the volume
# between T0 and the point in time inside start.  Fails if start failed.
frozen_start() {
	_fz_mnt=$1
	_fz_dev=$2
	shift 2
	run fsfreeze --freeze "$_fz_mnt"
	dd if="$_fz_dev" of="$DMBT_TMP/t0" bs=1M iflag=direct status=none ||
		{ fsfreeze --unfreeze "$_fz_mnt"; fail "cannot read T0"; }
	dmbackup start "$_fz_dev" "$@" >"$DMBT_TMP/start.out" 2>&1
	_fz_rc=$?
	fsfreeze --unfreeze "$_fz_mnt"
	cat "$DMBT_TMP/start.out"
	[ $_fz_rc -eq 0 ] || fail "dmbackup start failed (rc $_fz_rc)"
}

# put_counter <file> <n>: write n to file by rename, so a reader running
# beside the writer never sees it empty (truncated by '>', not yet written).
put_counter() {
	echo "$2" >"$1.new" && mv -f "$1.new" "$1"
}

# writer_start <dir> <stopfile>: write files dir/during-N (prng seed 5000+N,
# 256 KiB each, at most $WRITER_MAX, default 96 = 24 MiB), then keep
# rewriting dir/churn, until stopfile exists.  stopfile.count: files
# written; stopfile.beat: writes done (it grows while the volume is live).
# Its exit status is 0 unless a write failed (then it says which): the
# loop's own status would be that of its last command, which must not
# decide it (a slow kernel stops it among the files, not in the churn).
writer_start() {
	(
		_w_i=0
		_w_beat=0
		while [ ! -e "$2" ]; do
			_w_beat=$((_w_beat + 1))
			if [ "$_w_i" -ge "${WRITER_MAX:-96}" ]; then
				dmbt-prng "$_w_beat" 64K >"$1/churn" ||
					{ echo "writer: writing $1/churn failed" >&2; exit 1; }
				sync
				put_counter "$2.beat" "$_w_beat"
				sleep 0.05
				continue
			fi
			_w_i=$((_w_i + 1))
			dmbt-prng $((5000 + _w_i)) 256K >"$1/during-$_w_i" ||
				{ echo "writer: writing $1/during-$_w_i failed" >&2; exit 1; }
			put_counter "$2.count" "$_w_i"
			put_counter "$2.beat" "$_w_beat"
			if [ $((_w_i % 8)) -eq 0 ]; then
				sync
			fi
		done
		exit 0
	) &
	WRITER=$!
}

# writer_beat <stopfile>: writes the writer has done so far.
# writer_beat_above <stopfile> <n>: it has done more than n.
writer_beat() {
	cat "$1.beat" 2>/dev/null || echo 0
}
writer_beat_above() {
	[ "$(writer_beat "$1")" -gt "$2" ]
}

# writer_beats <stopfile>: wait until the writer has written again (fail
# after 10 s: the volume is stuck, e.g. left suspended).
writer_beats() {
	wait_until 10 \
		"the writer is stuck: the volume does not take writes (beat \$(writer_beat $1))" \
		writer_beat_above "$1" "$(writer_beat "$1")"
}

# writer_stop <stopfile>: stop the writer, fail if it failed; the number of
# files it wrote goes to $NWRITTEN.
writer_stop() {
	: >"$1"
	wait "$WRITER" || fail "the writer failed"
	NWRITTEN=$(cat "$1.count" 2>/dev/null || echo 0)
}

# finish_live_job <dm name> <volume> <table0>: the job met the writer
# (copy-before-write happened), stop the writer (it wrote files during the
# job: $NWRITTEN), dmbackup finish, and the volume has its table back.
finish_live_job() {
	_fl_cbw=$(bk_cbw "$1")
	info "chunks copied before a write: $_fl_cbw"
	[ "$_fl_cbw" -gt 0 ] || fail "the writer never met the job (no copy-before-write)"
	writer_stop "$DMBT_TMP/stop"
	info "$NWRITTEN files written during the job"
	[ "$NWRITTEN" -gt 0 ] || fail "no file was written during the job"
	run dmbackup finish "$2"
	vol_untouched "$1" "$3"
}

# files_intact <dir> <n>: during-1..n hold their data.
files_intact() {
	_fi_j=1
	while [ "$_fi_j" -le "$2" ]; do
		dmbt-prng $((5000 + _fi_j)) 256K | cmp -s - "$1/during-$_fi_j" ||
			fail "file during-$_fi_j is damaged"
		_fi_j=$((_fi_j + 1))
	done
}

# fails_soon <out> <cmd...>: the command fails (exit 1) within 30 s (a
# device that hangs must not hang dmbackup); its output goes to <out> and
# is shown.
fails_soon() {
	_fs_out=$1
	shift
	"$@" >"$_fs_out" 2>&1 &
	_fs_pid=$!
	wait_until 30 "'$*' hangs on the metadata device" proc_gone $_fs_pid
	wait $_fs_pid
	_fs_rc=$?
	cat "$_fs_out"
	[ $_fs_rc -eq 1 ] || fail "'$*': exit code $_fs_rc, not 1"
}

# fs_writes <k>: a file /mnt/vol/stall-<k> written and synced within 10 s.
fs_writes() {
	sh -c "dmbt-prng $((1810 + $1)) 256K >/mnt/vol/stall-$1 && sync" &
	_fw_pid=$!
	wait_until 10 'a write to the file system hangs: $(dmsetup info vol)' \
		proc_gone $_fw_pid
	wait $_fw_pid || fail "writing stall-$1 failed"
}

# stall_volume <seed> [all]: the setting of the dmbackup stall tests: a
# volume "vol" over a loop device (disk) with ext4 mounted on /mnt/vol,
# filled from <seed>, its table in table0; a backup disk (bdisk); the
# metadata device "mdev" over m, whose superblock writes (every write
# with "all") can be held (held_meta); the job files in $DMBT_TMP/jobs.
# The EXIT trap lets held writes go and unmounts.
stall_volume() {
	disk=$(mkloop 16) || exit 1
	bdisk=$(mkloop 16) || exit 1
	m=$(mkloop 1) || exit 1
	export DMBACKUP_JOBS_DIR="$DMBT_TMP/jobs"
	trap 'dmsetup resume sbgate 2>/dev/null; fs_release /mnt/vol' EXIT
	mkvol vol "$disk"
	mkfs_mount /dev/mapper/vol /mnt/vol 4 "$1"
	table0=$(table_of vol)
	held_meta "$m" ${2:-}
}
