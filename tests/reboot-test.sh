#!/bin/bash
# make check-reboot: a persistent job, and a tracking job, across real
# reboots of the VM.
#
#   tests/reboot-test.sh [--kver <kver>] [--no-build] [--only job|track]
#                        [--calibrate]
#
# Host files are the VM's virtio disks (run-vm.sh DMBT_DRIVES), in
# build/<kver>/reboot/: origin.img (64 MiB, /dev/vda), backup.img (64 MiB,
# vdb), meta.img (1 MiB, vdc), t0.img (64 MiB, vdd), etc.img (8 MiB, vde).
# Two scenarios of two boots each on the same disks
# (tools/testing/selftests/dm-backup/reboot.sh says what each boot does):
#   job    phase1  ext4 on the origin, mounted and written; its image
#                  frozen to t0.img, `dmbackup start --meta` starts a
#                  throttled persistent job; partway through, with the
#                  writer still writing, sysrq-b resets the VM (with
#                  -no-reboot, qemu ends).
#          phase2  the same `dmbackup start` continues the job (the uuid
#                  phase 1 printed, passed as dmbt.uuid=), which
#                  completes; the backup equals T0, is a clean ext4, the
#                  origin keeps its files.  On the host, backup.img must
#                  equal t0.img too.
#   track  track1  `dmbackup start --meta --track`: a full backup, then
#                  the job records the chunks written; the job file is on
#                  etc.img (mounted on /etc/dmbackup); reset mid-writes.
#          track2  `dmbackup reinstate`, mount, writes, `dmbackup start
#                  --incremental` at T1 (its image frozen to t0.img): the
#                  backup the increment updated equals T1, in the VM and
#                  on the host.
# Console logs: build/<kver>/reboot/<phase>/console.log.  Ends with
# "reboot: PASS ..." or "reboot: FAIL (<reason>)" (kept in
# build/<kver>/reboot/result), exit status 0 or 1.  The disk images are
# deleted after a pass, kept after a failure.
#
# --kver: default the newest 6.1 kernel (tests/kernels.sh).  --no-build:
# the module and build/<kver>/initramfs.cpio.gz are there already
# (tests/check.sh).  --only: one scenario.  --calibrate: the second boot of
# each scenario does what must make it fail: "job" starts a new job
# instead of continuing (wipes the metadata's superblocks, start --force),
# the backup then not being T0; "track" writes the volume before
# reinstate, so the record misses a write and the increment is not T1.
set -uo pipefail

KVER= BUILD=1 CALIBRATE= ONLY=
while [ $# -gt 0 ]; do
	case $1 in
	--kver) KVER=$2; shift 2 ;;
	--no-build) BUILD=; shift ;;
	--only) ONLY=$2; shift 2 ;;
	--calibrate) CALIBRATE=1; shift ;;
	*) echo "usage: $0 [--kver <kver>] [--no-build] [--only job|track] [--calibrate]" >&2
	   exit 2 ;;
	esac
done
case $ONLY in
''|job|track) ;;
*) echo "$0: --only job or track, not '$ONLY'" >&2; exit 2 ;;
esac
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
. tests/kernels.sh
[ -n "$KVER" ] || KVER=$(newest_kver 6.1)
[ -n "$KVER" ] || { echo "reboot: FAIL (no 6.1 kernel in /boot)"; exit 1; }
T_START=$SECONDS

# result PASS|FAIL <text>: the last line, also kept in
# build/<kver>/reboot/result (for tests/check.sh's recap); exit 0 or 1.
result() {
	local line="reboot: $1 ($2; ${KVER}, $((SECONDS - T_START))s)"
	echo "$line"
	mkdir -p "$TOP/build/$KVER/reboot" && echo "$line" >"$TOP/build/$KVER/reboot/result"
	[ "$1" = PASS ]
	exit
}

if [ -n "$BUILD" ]; then
	tests/install-deps.sh || result FAIL "installing dependencies failed"
	make --no-print-directory -C "$TOP" modules KVER="$KVER" ||
		result FAIL "module build failed"
	tests/mkinitramfs.sh "$KVER" "build/$KVER/src/dm-backup.ko" \
		"build/$KVER/initramfs.cpio.gz" || result FAIL "initramfs build failed"
fi

DIR=$TOP/build/$KVER/reboot
export DMBT_VM_TIMEOUT=${DMBT_VM_TIMEOUT:-600}

# new_disks: the scenario's disks, new and zeroed.
new_disks() {
	rm -rf "$DIR"
	mkdir -p "$DIR"
	for f in origin:64M backup:64M meta:1M t0:64M etc:8M; do
		truncate -s "${f#*:}" "$DIR/${f%:*}.img" ||
			result FAIL "cannot create $DIR/${f%:*}.img"
	done
	export DMBT_DRIVES="$DIR/origin.img $DIR/backup.img $DIR/meta.img $DIR/t0.img $DIR/etc.img"
}

# why <log>: the guest's last failure line (a second boot ends with one
# naming every check that failed), for the result line.
why() {
	sed -n 's/^FAIL: //p' "$1" | tail -n1
}

# boot <phase> [dmbt.* args]: one boot of the VM running reboot.sh <phase>;
# fails the whole test if the guest failed.
boot() {
	local phase=$1
	shift
	DMBT_APPEND="${DMBT_APPEND:-} $*" DMBT_OUT=$DIR/$phase \
		DMBT_SUMMARY_LABEL="reboot $phase: " tests/run-vm.sh "$KVER" reboot "$phase" ||
		result FAIL "$phase: $(why "$DIR/$phase/console.log"); log $DIR/$phase/console.log"
}

# reset_line <phase>: the DMBT-RESET line the first boot printed.
reset_line() {
	grep -m1 '^DMBT-RESET ' "$DIR/$1/console.log"
}

# word <name> <line>: the value of name=... in a DMBT-RESET line.
word() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

# backup_is_image <what>: on the host, backup.img equals t0.img.
backup_is_image() {
	local out
	out=$(cmp "$DIR/backup.img" "$DIR/t0.img" 2>&1) ||
		result FAIL "on the host: backup.img is not $1 (t0.img): $out"
}

# two_boots <first> <second> <calibration> <what>: a scenario's two boots
# on new disks: <first> ends with a DMBT-RESET line and a reset; <second>
# gets the job's uuid and file count on its command line (and
# dmbt.calibrate=<calibration> with --calibrate).  The reset line in LINE,
# the job in UUID.
two_boots() {
	local files append
	new_disks
	echo "=== reboot: $1 ($KVER): $4, reset ==="
	boot "$1"
	LINE=$(reset_line "$1")
	UUID=$(word uuid "$LINE")
	files=$(word files "$LINE")
	[ -n "$UUID" ] && [ -n "$files" ] || result FAIL "$1 printed no job uuid/files: '$LINE'"
	echo "reboot: $1 reset the VM: ${LINE#DMBT-RESET }"
	echo "=== reboot: $2 ($KVER): boot again, job $UUID ==="
	append="dmbt.uuid=$UUID dmbt.files=$files"
	[ -z "$CALIBRATE" ] || append="$append dmbt.calibrate=$3"
	boot "$2" "$append"
}

scenario_job() {
	two_boots phase1 phase2 new-job "a persistent job, mid-job"
	backup_is_image T0
	rm -f "$DIR"/*.img
	SAID="job $UUID continued after a reset at $(word copied "$LINE"), completed; backup = T0"
}

scenario_track() {
	two_boots track1 track2 write-first "a tracking job, mid-writes"
	backup_is_image T1
	rm -f "$DIR"/*.img
	SAID="${SAID:+$SAID; }tracking job $UUID reinstated after a reset at $(word changed "$LINE")"
	SAID="$SAID changed chunks, increment = T1"
}

SAID=
[ "$ONLY" = track ] || scenario_job
[ "$ONLY" = job ] || scenario_track
result PASS "$SAID (cmp in the VM and on the host), e2fsck clean"
