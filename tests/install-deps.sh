#!/bin/bash
# Install everything the dm-backup test harness needs on a Debian 12 host.
#
#   tests/install-deps.sh            the suite's packages (below)
#   tests/install-deps.sh PKG...     these instead (the debug kernel's and
#                                    the patch test's build dependencies)
#
# Idempotent: every package is checked with `dpkg -s` first, and apt-get
# (which needs root and network, and is slow) only runs when something is
# actually missing.  Safe to call from every `make` invocation.
set -euo pipefail

PKGS=(
	# The kernels we test against, plus headers to build the module.
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	# Debian's PREEMPT_RT flavour of 6.1: spinlocks sleep, interrupt
	# handlers run in threads, so lock-context mistakes show up there.
	linux-image-rt-amd64 linux-headers-rt-amd64
	# The VM and the initramfs contents.
	qemu-system-x86 busybox-static dmsetup kmod util-linux mount
	e2fsprogs cpio xz-utils coreutils diffutils fio
	# thin_delta and era_invalidate for incremental backups (sync mode top).
	thin-provisioning-tools
	# test_67 backs up onto an NBD device served inside the VM; test_68
	# backs up a real LVM logical volume.
	nbd-server nbd-client lvm2
	# Module and helper builds (sparse for `make C=1`).
	gcc make libc6-dev sparse
	# dmbackup map parses thin_delta and era_invalidate XML.
	libexpat1-dev
	# tools/dmbackup (the CLI) links libdevmapper, and libblkid to look
	# for signatures on a backup device before it writes there.
	libdevmapper-dev libblkid-dev
)

[ $# -gt 0 ] && PKGS=("$@")

missing=()
for p in "${PKGS[@]}"; do
	# "install ok installed" is the only state in which the files are there.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "install-deps: installing missing packages: ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi
# DMBT_NO_INITRD=1 (.ci/run): no initramfs for the kernels installed here.
# The VM boots them with the harness's own initramfs (tests/mkinitramfs.sh),
# and generating Debian's takes minutes per kernel.  Only for a machine
# that never boots them: without an initramfs the host cannot.
initrd=()
[ "${DMBT_NO_INITRD:-}" = 1 ] && initrd=(INITRD=No)
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive "${initrd[@]}" \
	apt-get install -y --no-install-recommends "${missing[@]}"
