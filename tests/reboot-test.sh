#!/bin/bash
# make check-reboot: a persistent job across a real reboot of the VM.
#
#   tests/reboot-test.sh [--kver <kver>] [--no-build] [--calibrate]
#
# Host files are the VM's virtio disks (run-vm.sh DMBT_DRIVES), in
# build/<kver>/reboot/: origin.img (64 MiB, /dev/vda), backup.img (64 MiB,
# vdb), meta.img (1 MiB, vdc), t0.img (64 MiB, vdd).  Two boots of the same
# disks (tools/testing/selftests/dm-backup/reboot.sh says what each does):
#   phase1  ext4 on the origin, mounted and written; its image frozen to
#           t0.img, `dmbackup start --meta` starts a throttled persistent
#           job; partway through, with the writer still writing, sysrq-b
#           resets the VM (with -no-reboot, qemu ends).
#   phase2  the same `dmbackup start` continues the job (the uuid phase 1
#           printed, passed as dmbt.uuid=), which completes; the backup
#           equals T0, is a clean ext4, the origin keeps its files.
# Then, on the host, backup.img must equal t0.img too.  Console logs:
# build/<kver>/reboot/phase{1,2}/console.log.  Ends with "reboot: PASS
# ..." or "reboot: FAIL (<reason>)" (kept in build/<kver>/reboot/result),
# exit status 0 or 1.  The disk images
# are deleted after a pass, kept after a failure.
#
# --kver: default the newest 6.1 kernel (tests/kernels.sh).  --no-build:
# the module and build/<kver>/initramfs.cpio.gz are there already
# (tests/check.sh).  --calibrate: phase 2 starts a new job instead of
# continuing (wipes the metadata's superblocks, start --force): the test
# must then fail, the backup not being T0.
set -uo pipefail

KVER= BUILD=1 CALIBRATE=
while [ $# -gt 0 ]; do
	case $1 in
	--kver) KVER=$2; shift 2 ;;
	--no-build) BUILD=; shift ;;
	--calibrate) CALIBRATE=1; shift ;;
	*) echo "usage: $0 [--kver <kver>] [--no-build] [--calibrate]" >&2; exit 2 ;;
	esac
done
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
rm -rf "$DIR"
mkdir -p "$DIR"
for f in origin:64M backup:64M meta:1M t0:64M; do
	truncate -s "${f#*:}" "$DIR/${f%:*}.img" || result FAIL "cannot create $DIR/${f%:*}.img"
done
export DMBT_DRIVES="$DIR/origin.img $DIR/backup.img $DIR/meta.img $DIR/t0.img"
export DMBT_VM_TIMEOUT=${DMBT_VM_TIMEOUT:-600}

# why <log>: the guest's last failure line (phase 2 ends with one naming
# every check that failed), for the result line.
why() {
	sed -n 's/^FAIL: //p' "$1" | tail -n1
}

echo "=== reboot: phase 1 ($KVER): a persistent job, reset mid-job ==="
DMBT_OUT=$DIR/phase1 DMBT_SUMMARY_LABEL="reboot phase1: " tests/run-vm.sh "$KVER" reboot phase1
rc=$?
LOG1=$DIR/phase1/console.log
[ $rc -eq 0 ] || result FAIL "phase 1: $(why "$LOG1"); log $LOG1"
line=$(grep -m1 '^DMBT-RESET ' "$LOG1")
uuid=$(sed -n 's/.* uuid=\([0-9a-f-]\{36\}\).*/\1/p' <<<"$line")
files=$(sed -n 's/.* files=\([0-9]*\).*/\1/p' <<<"$line")
[ -n "$uuid" ] && [ -n "$files" ] || result FAIL "phase 1 printed no job uuid/files: '$line'"
echo "reboot: phase 1 reset the VM mid-job: ${line#DMBT-RESET }"

echo "=== reboot: phase 2 ($KVER): boot again, continue job $uuid ==="
append="dmbt.uuid=$uuid dmbt.files=$files"
[ -z "$CALIBRATE" ] || append="$append dmbt.calibrate=new-job"
DMBT_APPEND="${DMBT_APPEND:-} $append" DMBT_OUT=$DIR/phase2 \
	DMBT_SUMMARY_LABEL="reboot phase2: " tests/run-vm.sh "$KVER" reboot phase2
rc=$?
LOG2=$DIR/phase2/console.log
[ $rc -eq 0 ] || result FAIL "phase 2: $(why "$LOG2"); log $LOG2"

# From outside the VM too: the backup's host file is the T0 image.
out=$(cmp "$DIR/backup.img" "$DIR/t0.img" 2>&1) ||
	result FAIL "on the host: backup.img is not t0.img: $out"
rm -f "$DIR"/*.img
result PASS "job $uuid continued after a reset at ${line#* copied=}, completed; backup = T0 (cmp in the VM and on the host), e2fsck clean"
