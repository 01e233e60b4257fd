#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# make check-reboot (tests/reboot-test.sh): a persistent job across a real
# reboot of the VM.  Not a test_*.sh: it needs virtio disks backed by host
# files (/dev/vda origin, vdb backup, vdc metadata, vdd the point-in-time
# image), which survive the reset, and runs in two boots:
#
#   reboot.sh phase1   "vol", dm-linear over vda, gets an ext4, is mounted
#                      and written (a writer keeps going); with the file
#                      system frozen, its image is copied to vdd (T0) and
#                      `dmbackup start --meta vdc --speed 2M` starts a
#                      throttled persistent job; once an eighth of the
#                      chunks are copied and writes met the job
#                      (copy-before-write), "DMBT-RESET uuid=... files=N"
#                      and a reset with sysrq-b: no unmount, no end of
#                      the job, the writer still writing.
#   reboot.sh phase2   (kernel command line dmbt.uuid=<the job's uuid>
#                      dmbt.files=N) "vol" over vda again, not mounted;
#                      the same `dmbackup start` says "continuing job
#                      <uuid>"; then the volume is mounted (its journal
#                      replay writes it while the job runs) and written;
#                      `dmbackup wait`, `dmbackup finish`; `dmbackup
#                      info` says completed (exit 0); the backup equals
#                      T0 and e2fsck finds it clean; the origin holds the
#                      files written before the job and the N files
#                      synced before the reset, and is clean too.
#
#   reboot.sh track1   change tracking across a reset: /dev/vde, an ext4,
#                      is mounted on /etc/dmbackup (the root file system
#                      that keeps dmbackup's job files across the boot);
#                      `dmbackup start --meta vdc --track` makes a full
#                      backup of the written ext4 on "vol" onto vdb and
#                      goes on recording; with the writer writing files
#                      and 4 KiB O_DIRECT writes into a file (direct), once the
#                      record holds 64 chunks, "DMBT-RESET uuid=...
#                      changed=N files=N" and sysrq-b.
#   reboot.sh track2   "vol" over vda again, /etc/dmbackup mounted;
#                      `dmbackup reinstate` puts the tracking job back
#                      under vol (status: the same job, completed, its
#                      record not lost); then mount (journal replay),
#                      write; with the file system frozen, the volume's
#                      image to vdd (T1) and `dmbackup start
#                      --incremental`; once done, vdb, which held the full
#                      backup, equals T1 and is clean; the origin keeps
#                      its files.
#
# dmbt.calibrate=new-job (phase 2): wipe the metadata's superblocks and
# start with --force, a new job instead of continuing: the test must fail
# (the backup is then the volume after the reset, not T0).
# dmbt.calibrate=write-first (track2): the volume is mounted and a file
# written before reinstate, as a boot without the hook would: the record
# misses it and the test must fail (the increment leaves it out).  Phase 2
# and track2 run every check and fail at the end, naming each that failed.
DMBT_DIR=${DMBT_DIR:-$(cd "$(dirname "$0")" && pwd)}
. "$DMBT_DIR/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

DMBT_TMP=/tmp/dmbt-reboot
mkdir -p "$DMBT_TMP"
cd "$DMBT_TMP" || fail "cannot cd to $DMBT_TMP"

PHASE=${1:-}
origin=/dev/vda
backup=/dev/vdb
meta=/dev/vdc
t0=/dev/vdd
NBEFORE=4	# before-1..4, 1 MiB each (mkfs_mount), prng seeds 941..944
SEED=940

# arg <name>: the value of dmbt.<name>= on the kernel command line.
arg() {
	tr ' ' '\n' </proc/cmdline | sed -n "s/^dmbt\.$1=//p" | tail -n1
}

# Kernel log lines that mean a kernel bug (run.sh's BAD_RE).
BAD_RE='(^|[^[:alnum:]_])(BUG|WARNING)([^[:alnum:]_]|$)|Oops|general protection|lockdep'
BAD_RE="$BAD_RE|possible circular locking|possible recursive locking|KASAN|UBSAN|hung_task"
BAD_RE="$BAD_RE|blocked for more than|soft lockup|hard LOCKUP|rcu_sched self-detected"
BAD_RE="$BAD_RE|rcu: INFO|Call Trace"
kernel_clean() {
	dmesg | awk -v re="$BAD_RE" '$0 ~ re { n = 26 } n > 0 { print; n-- }' >"$DMBT_TMP/bad"
	if [ -s "$DMBT_TMP/bad" ]; then
		sed 's/^/dmesg: /' "$DMBT_TMP/bad"
		return 1
	fi
}

etc=/dev/vde	# track1/track2: an ext4 holding /etc/dmbackup

disks_ok() {
	for _d in $origin $backup $meta $t0 $etc; do
		[ -b "$_d" ] || fail "no $_d: the VM has no virtio disks (run-vm.sh DMBT_DRIVES)"
	done
	[ "$(sectors $origin)" = "$(sectors $backup)" ] &&
	[ "$(sectors $origin)" = "$(sectors $t0)" ] ||
		fail "$origin, $backup and $t0 differ in size"
}

# soft <what> <cmd...>: run a check (in a subshell: lib.sh's fail exits
# only that); if it fails, note what (with its own FAIL line, if any) and
# go on.
FAILS=
soft() {
	_so_what=$1
	shift
	("$@") 2>"$DMBT_TMP/soft.err"
	_so_rc=$?
	cat "$DMBT_TMP/soft.err" >&2
	[ $_so_rc -eq 0 ] && return 0
	_so_why=$(sed -n 's/^FAIL: //p' "$DMBT_TMP/soft.err" | tail -n1)
	_so_what="$_so_what${_so_why:+ ($_so_why)}"
	echo "FAIL: $_so_what" >&2
	FAILS="$FAILS${FAILS:+; }$_so_what"
}

# reset_now <words>: "DMBT-RESET <words>" (tests/reboot-test.sh reads
# it), then a reset with sysrq-b: no unmount, no sync.
reset_now() {
	echo "DMBT-RESET $1"
	sleep 1		# the line out on the console before the reset
	echo b >/proc/sysrq-trigger
	sleep 30
	fail "sysrq-b did not reset the machine"
}

# second_boot_args <first boot>: uuid, files and calibrate from the kernel
# command line (dmbt.uuid=, dmbt.files= of the first boot's reset line).
second_boot_args() {
	uuid=$(arg uuid)
	files=$(arg files)
	calibrate=$(arg calibrate)
	[ -n "$uuid" ] && [ -n "$files" ] ||
		fail "dmbt.uuid= and dmbt.files= (from $1) missing on the kernel command line"
}

phase1() {
	echo 1 >/proc/sys/kernel/sysrq
	mkvol vol $origin
	info "an ext4 on vol ($origin), $NBEFORE files, a writer"
	mkfs_mount /dev/mapper/vol /mnt/vol $NBEFORE $SEED
	writer_start /mnt/vol "$DMBT_TMP/stop"
	writer_beats "$DMBT_TMP/stop"

	info "T0: the file system frozen, its image to $t0, then dmbackup start --meta"
	run fsfreeze --freeze /mnt/vol
	dd if=/dev/mapper/vol of=$t0 bs=1M iflag=direct oflag=direct conv=fsync status=none ||
		{ fsfreeze --unfreeze /mnt/vol; fail "cannot copy T0 to $t0"; }
	dmbackup start /dev/mapper/vol $backup --meta $meta --speed 2M >"$DMBT_TMP/start.out" 2>&1
	_rc=$?
	fsfreeze --unfreeze /mnt/vol
	cat "$DMBT_TMP/start.out"
	[ $_rc -eq 0 ] || fail "dmbackup start --meta failed (rc $_rc)"
	uuid=$(dmbackup status /dev/mapper/vol --interval 0 |
		sed -n 's/.* job \([0-9a-f-]\{36\}\) persistent.*/\1/p')
	[ -n "$uuid" ] || fail "dmbackup status names no persistent job"
	grep -q "job $uuid, persistent on $meta" "$DMBT_TMP/start.out" ||
		fail "start does not name the job $uuid"

	total=$(bk_total vol)
	info "job $uuid: $total chunks at 2 MiB/s; waiting for an eighth and a copy-before-write"
	wait_copied vol $((total / 8)) 120
	wait_cbw vol 1 60
	# The files the writer has finished are made durable; it keeps
	# writing, so the reset still cuts writes in flight.
	files=$(cat "$DMBT_TMP/stop.count" 2>/dev/null || echo 0)
	sync
	copied=$(bk_copied vol)
	[ "$(backup_state vol)" = running ] || fail "the job is not running: $(backup_status vol)"
	[ "$copied" -lt "$total" ] || fail "the walk ended before the reset: $copied/$total"
	dmbackup info $meta
	kernel_clean || fail "the kernel log reports a bug"
	reset_now "uuid=$uuid copied=$copied/$total cbw=$(bk_cbw vol) files=$files"
}

phase2() {
	second_boot_args phase1
	mkvol vol $origin
	info "after the reset: job $uuid on $meta, vol not mounted"
	dmbackup info $meta
	soft "dmbackup info: the job is not running after the reset" \
		sh -c "dmbackup info $meta | grep -q 'state: *running'"
	force=
	if [ "$calibrate" = new-job ]; then
		info "CALIBRATION: wiping the superblocks of $meta, start --force: a new job"
		run dd if=/dev/zero of=$meta bs=8K count=1 oflag=direct conv=fsync status=none
		force=--force
	fi
	dmbackup start /dev/mapper/vol $backup --meta $meta --speed 16M $force \
		>"$DMBT_TMP/start.out" 2>&1
	_rc=$?
	cat "$DMBT_TMP/start.out"
	[ $_rc -eq 0 ] || fail "dmbackup start --meta after the reset failed (rc $_rc)"
	_cont="^continuing job $uuid (point in time 20[0-9-]*T[0-9:.]*Z, [0-9]*/[0-9]* chunks)"
	soft "start did not continue job $uuid" grep -q "$_cont" "$DMBT_TMP/start.out"
	dmbackup status /dev/mapper/vol --interval 0 >"$DMBT_TMP/status" 2>&1
	soft "the running job is not $uuid" grep -q "job $uuid persistent" "$DMBT_TMP/status"

	info "mount (journal replay), write; the job runs: $(backup_status vol progress) chunks"
	mkdir -p /mnt/vol
	run mount -t ext4 /dev/mapper/vol /mnt/vol
	dmbt-prng 949 1M >/mnt/vol/after-reboot || fail "cannot write after-reboot"
	sync
	info "cbw $(bk_cbw vol), progress $(backup_status vol progress)"
	dmbackup wait /dev/mapper/vol --interval 1 || fail "dmbackup wait: exit code $?"
	run dmbackup finish /dev/mapper/vol
	dmbackup info $meta
	soft "dmbackup info $meta: not completed (exit code not 0)" \
		sh -c "dmbackup info $meta | grep -q 'state: *completed'"

	info "the backup ($backup) against T0 ($t0)"
	soft "the backup is not the point-in-time image T0" same $backup $t0
	soft "e2fsck -fn of the backup" run e2fsck -fn $backup
	info "the origin: $NBEFORE files before the job, $files synced before the reset"
	soft "files written before the job damaged" before_intact /mnt/vol $NBEFORE $SEED
	soft "files synced before the reset damaged" files_intact /mnt/vol "$files"
	soft "after-reboot damaged" sh -c "dmbt-prng 949 1M | cmp -s - /mnt/vol/after-reboot"
	run umount /mnt/vol
	soft "e2fsck -fn of the origin" run e2fsck -fn /dev/mapper/vol
	run dmsetup remove vol
	soft "the kernel log reports a bug" kernel_clean
	[ -z "$FAILS" ] || fail "$FAILS"
	echo "reboot: job $uuid continued after the reset and completed; backup = T0, clean"
}


# etc_mount [new]: /dev/vde (a new ext4 with "new") on /etc/dmbackup,
# where dmbackup keeps the job files reinstate reads.
etc_mount() {
	[ "${1:-}" != new ] || run mke2fs -q -t ext4 -F $etc
	mkdir -p /etc/dmbackup
	run mount -t ext4 $etc /etc/dmbackup
}

# direct_writes <file> <seed> <n>: n 4 KiB O_DIRECT writes of prng data
# into the file (1 MiB long) at offsets spread over it.
direct_writes() {
	_dw_j=1
	while [ "$_dw_j" -le "$3" ]; do
		dmbt-prng $(($2 + _dw_j)) 4096 |
			dd of="$1" bs=4096 seek=$(((_dw_j * 37) % 256)) oflag=direct \
				conv=notrunc status=none || fail "a direct write into $1 failed"
		_dw_j=$((_dw_j + 1))
	done
}

# changed_above <n>: the tracking job on vol has recorded more than n chunks.
changed_above() {
	[ "$(backup_status vol changed)" -gt "$1" ]
}

track1() {
	echo 1 >/proc/sys/kernel/sysrq
	etc_mount new
	mkvol vol $origin
	info "an ext4 on vol ($origin), $NBEFORE files"
	mkfs_mount /dev/mapper/vol /mnt/vol $NBEFORE $SEED
	dmbt-prng 9399 1M >/mnt/vol/direct || fail "cannot write direct"
	sync
	run dmbackup start /dev/mapper/vol $backup --meta $meta --track
	[ -f /etc/dmbackup/jobs/vol.conf ] || fail "start wrote no /etc/dmbackup/jobs/vol.conf"
	uuid=$(dmbackup status /dev/mapper/vol --interval 0 |
		sed -n 's/.* job \([0-9a-f-]\{36\}\) persistent.*/\1/p')
	[ -n "$uuid" ] || fail "dmbackup status names no persistent job"
	run dmbackup wait /dev/mapper/vol --interval 1
	[ "$(backup_state vol)" = completed ] || fail "the full backup: $(backup_status vol)"
	info "job $uuid completed, recording: $(backup_status vol changed) chunks; writes"
	writer_start /mnt/vol "$DMBT_TMP/stop"
	writer_beats "$DMBT_TMP/stop"
	direct_writes /mnt/vol/direct 9400 16
	wait_until 120 'the record does not grow: $(backup_status vol)' changed_above 64
	files=$(cat "$DMBT_TMP/stop.count" 2>/dev/null || echo 0)
	sync
	direct_writes /mnt/vol/direct 9500 8
	[ "$(backup_status vol changed)" != lost ] || fail "the record is lost"
	dmbackup status /dev/mapper/vol --interval 0
	kernel_clean || fail "the kernel log reports a bug"
	reset_now "uuid=$uuid changed=$(backup_status vol changed) files=$files"
}

track2() {
	second_boot_args track1
	mkvol vol $origin
	etc_mount
	mkdir -p /mnt/vol
	if [ "$calibrate" = write-first ]; then
		info "CALIBRATION: vol mounted and written before reinstate"
		run mount -t ext4 /dev/mapper/vol /mnt/vol
		dmbt-prng 958 1M >/mnt/vol/unrecorded || fail "cannot write unrecorded"
		run umount /mnt/vol
	fi
	info "after the reset: dmbackup reinstate (/etc/dmbackup/jobs: $(ls /etc/dmbackup/jobs))"
	run dmbackup reinstate
	dmbackup status /dev/mapper/vol --interval 0 >"$DMBT_TMP/status" 2>&1
	cat "$DMBT_TMP/status"
	soft "the reinstated job is not $uuid" grep -q "job $uuid persistent" "$DMBT_TMP/status"
	state=$(backup_state vol)
	soft "the reinstated job is $state, not completed" [ "$state" = completed ]
	changed=$(backup_status vol changed)
	info "the record after the reset: $changed chunks"
	soft "the record was lost (or is empty): $changed" changed_above 0

	info "mount (journal replay), write; then the increment"
	run mount -t ext4 /dev/mapper/vol /mnt/vol
	dmbt-prng 959 1M >/mnt/vol/after-reboot || fail "cannot write after-reboot"
	direct_writes /mnt/vol/direct 9600 8
	sync
	run fsfreeze --freeze /mnt/vol
	dd if=/dev/mapper/vol of=$t0 bs=1M iflag=direct oflag=direct conv=fsync status=none ||
		{ fsfreeze --unfreeze /mnt/vol; fail "cannot copy T1 to $t0"; }
	dmbackup start --incremental /dev/mapper/vol >"$DMBT_TMP/inc.out" 2>&1
	_rc=$?
	fsfreeze --unfreeze /mnt/vol
	cat "$DMBT_TMP/inc.out"
	[ $_rc -eq 0 ] || fail "dmbackup start --incremental after the reset failed (rc $_rc)"
	dmbt-prng 960 1M >/mnt/vol/after-increment || fail "cannot write after-increment"
	run dmbackup wait /dev/mapper/vol --interval 1
	info "the increment: $(backup_status vol progress) chunks; $backup against T1 ($t0)"
	soft "the backup is not the image T1 of the increment's point in time" same $backup $t0
	soft "e2fsck -fn of the backup" run e2fsck -fn $backup
	soft "files written before the job damaged" before_intact /mnt/vol $NBEFORE $SEED
	soft "files synced before the reset damaged" files_intact /mnt/vol "$files"
	soft "after-reboot damaged" sh -c "dmbt-prng 959 1M | cmp -s - /mnt/vol/after-reboot"
	run umount /mnt/vol
	run dmbackup finish --stop-tracking /dev/mapper/vol
	soft "e2fsck -fn of the origin" run e2fsck -fn /dev/mapper/vol
	run dmsetup remove vol
	run umount /etc/dmbackup
	soft "the kernel log reports a bug" kernel_clean
	[ -z "$FAILS" ] || fail "$FAILS"
	echo "reboot: tracking job $uuid reinstated after the reset; the increment is T1, clean"
}

disks_ok
case $PHASE in
phase1) phase1 ;;
phase2) phase2 ;;
track1) track1 ;;
track2) track2 ;;
*) fail "usage: $0 phase1|phase2|track1|track2" ;;
esac
