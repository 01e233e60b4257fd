#!/bin/bash
# Build the test initramfs for one kernel.
#
#   tests/mkinitramfs.sh <kver> <dm-backup.ko> <out.cpio.gz>
#
# The VM boots straight into this initramfs (no root disk): busybox for the
# shell and most tools, a few real binaries where busybox's applet is too
# limited, the kernel modules the tests use (taken from the host's
# /lib/modules/<kver>), our module, and tools/testing/selftests/dm-backup/
# as /selftests.  /init is tests/init.sh.
#
# Environment:
#   DMBT_MODROOT  take the kernel's modules from $DMBT_MODROOT/lib/modules/<kver>
#                 (a `make modules_install INSTALL_MOD_PATH=...` tree, e.g.
#                 the debug kernel's) instead of the host's /lib/modules/<kver>
#   DMBT_CLI      pack this dmbackup binary (with the libraries ldd lists)
#                 instead of building tools/dmbackup, e.g. the sanitizer
#                 build of `make tools-asan`
set -euo pipefail

usage() { echo "usage: $0 <kver> <module.ko> <out.cpio.gz>" >&2; exit 2; }
[ $# -eq 3 ] || usage
KVER=$1 MODULE=$2 OUT=$3

TOP=$(cd "$(dirname "$0")/.." && pwd)
SELFTESTS=$TOP/tools/testing/selftests/dm-backup
MODROOT=${DMBT_MODROOT:-}
MODDIR=$MODROOT/lib/modules/$KVER

die() { echo "mkinitramfs: error: $*" >&2; exit 1; }

[ -d "$MODDIR/kernel" ] || die "$MODDIR/kernel missing (is linux-image for $KVER installed?)"
# The module under test is required: an initramfs without it would run the
# suite against nothing and every failure would be misleading.
[ -f "$MODULE" ] || die "module '$MODULE' not found (build it first: make KVER=$KVER)"
[ -x /bin/busybox ] || die "busybox missing (apt-get install busybox-static)"

ROOT=$(mktemp -d /tmp/dmbt-initramfs.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,tmp,run,root,lib64}
mkdir -p "$ROOT"/lib/modules/"$KVER"

# ---- busybox ---------------------------------------------------------------
# Applets go in /bin only; real binaries go to /usr/{s,}bin, which come first
# in PATH, so they override the busybox applet of the same name.
cp /bin/busybox "$ROOT/bin/busybox"
for applet in $(/bin/busybox --list); do
	# `busybox --list` names busybox itself: don't replace the binary.
	[ "$applet" = busybox ] && continue
	ln -sf busybox "$ROOT/bin/$applet"
done
# The kernel runs /sbin/modprobe (request_module) e.g. when dmsetup loads a
# table whose target isn't loaded yet: make that work.
ln -sf ../bin/busybox "$ROOT/sbin/modprobe"

# ---- dynamic binaries ------------------------------------------------------
# copy_bin <path> [dest]: copy a binary and every library ldd lists, at the
# same paths (so the ELF interpreter and the default search path find them).
copy_lib() {
	local lib=$1
	[ -e "$ROOT$lib" ] && return 0
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib"
}
copy_bin() {
	local src=$1 dest=${2:-$1}
	mkdir -p "$ROOT$(dirname "$dest")"
	[ "$src" -ef "$ROOT$dest" ] || cp -L "$src" "$ROOT$dest"
	# ldd prints "libx.so => /path (addr)" or "/lib64/ld-linux... (addr)";
	# "not a dynamic executable" (static binary) yields nothing.
	local lib
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
		copy_lib "$lib"
	done
}
copy_lib /lib64/ld-linux-x86-64.so.2

# first_of <cmd...>: first existing path among candidates (merged /usr or not).
first_of() {
	local p
	for p in "$@"; do [ -x "$p" ] && { echo "$p"; return 0; }; done
	return 1
}

# Required tools, with the reason busybox's applet isn't enough:
#   dmsetup   - not in busybox
#   blkdiscard- busybox's has no -z (zero out)
#   dd, date  - coreutils: dd prints timing and has iflag/oflag=direct,
#               fullblock; date has %N
#   cmp       - diffutils: -n/-i and "differ: byte N" for `same`
#   losetup   - util-linux: --show, -D, --direct-io, --sector-size
#   blockdev  - util-linux: more options than busybox's
#   mke2fs/e2fsck - real e2fsprogs (busybox mke2fs is a different program)
for tool in dmsetup blkdiscard dd date cmp losetup blockdev mke2fs e2fsck; do
	p=$(first_of /usr/sbin/$tool /usr/bin/$tool /sbin/$tool /bin/$tool) ||
		die "$tool not found on the host (run tests/install-deps.sh)"
	case $tool in
	dd|date|cmp) copy_bin "$p" /usr/bin/$tool ;;
	*)           copy_bin "$p" /usr/sbin/$tool ;;
	esac
done
ln -sf mke2fs "$ROOT/usr/sbin/mkfs.ext4"
ln -sf e2fsck "$ROOT/usr/sbin/fsck.ext4"
cp /etc/mke2fs.conf "$ROOT/etc/mke2fs.conf"

# thin-provisioning-tools for the incremental backup tests: one binary
# that acts on its argv[0].
for tool in thin_delta era_invalidate; do
	p=$(first_of /usr/sbin/$tool /usr/bin/$tool) ||
		die "$tool not found on the host (run tests/install-deps.sh)"
	copy_bin "$p" /usr/sbin/$tool
done

# LVM (lvm2) for test_68: one binary that acts on its argv[0], as the
# real system's /sbin/<cmd> -> lvm links.  No udev and no daemons in the
# VM: tests/lvm.conf turns udev sync, dmeventd monitoring, lvmpolld and
# metadata backups off.
p=$(first_of /usr/sbin/lvm /sbin/lvm) ||
	die "lvm not found on the host (run tests/install-deps.sh)"
copy_bin "$p" /usr/sbin/lvm
for tool in pvcreate vgcreate lvcreate lvchange lvs vgs pvs vgchange lvremove vgremove; do
	ln -sf lvm "$ROOT/usr/sbin/$tool"
done
mkdir -p "$ROOT/etc/lvm"
cp "$TOP/tests/lvm.conf" "$ROOT/etc/lvm/lvm.conf"

# NBD (nbd-server, nbd-client) for test_67: a backup device served over
# TCP on the VM's loopback interface.
p=$(first_of /usr/bin/nbd-server /usr/sbin/nbd-server /bin/nbd-server) ||
	die "nbd-server not found on the host (run tests/install-deps.sh)"
copy_bin "$p" /usr/bin/nbd-server
p=$(first_of /usr/sbin/nbd-client /sbin/nbd-client) ||
	die "nbd-client not found on the host (run tests/install-deps.sh)"
copy_bin "$p" /usr/sbin/nbd-client
# Who root is, for the tools that ask (getpwuid): nbd-server, lvm.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\ndisk:x:6:\n' >"$ROOT/etc/group"
# nbd-server and lvm look for /var/run (pid files) and /run/lock.
mkdir -p "$ROOT/var"
ln -sf ../run "$ROOT/var/run"

# Optional tools, included when the host has them.  fio only on request
# (DMBT_WITH_FIO=1): Debian's fio links ceph, gnutls and ICU, ~65 MB of
# libraries that would triple the initramfs and slow every boot; the suite's
# own I/O generator (bkp-io.c) does not need it.
OPTIONAL="thin_check thin_dump era_check era_dump script"
[ "${DMBT_WITH_FIO:-0}" = 1 ] && OPTIONAL="fio $OPTIONAL"
for tool in $OPTIONAL; do
	p=$(first_of /usr/bin/$tool /usr/sbin/$tool) || continue
	copy_bin "$p" /usr/bin/$tool
done

# Test helpers (bkp-io, dmbt-prng, ...): built by the selftests' own
# kselftest-style Makefile (TEST_GEN_PROGS_EXTENDED; out of a kernel tree
# its `include ../lib.mk` finds the stand-in tools/testing/selftests/lib.mk)
# straight into /usr/local/bin, then their libraries are added.
make -s -C "$SELFTESTS" OUTPUT="$ROOT/usr/local/bin" >&2 ||
	die "failed to build the test helpers (make -C $SELFTESTS)"
for h in "$ROOT"/usr/local/bin/*; do
	[ -f "$h" ] && [ -x "$h" ] || continue
	copy_bin "$h" "/usr/local/bin/${h##*/}"
done
[ -x "$ROOT/usr/local/bin/dmbt-prng" ] ||
	die "the selftests' Makefile built no dmbt-prng into /usr/local/bin"

# The admin's CLI (tools/dmbackup, linked with libdevmapper and expat), for
# test_6x_* and, as `dmbackup map`, the map of sync mode top.
if [ -n "${DMBT_CLI:-}" ]; then
	[ -x "$DMBT_CLI" ] || die "DMBT_CLI=$DMBT_CLI is not an executable"
	echo "mkinitramfs: dmbackup is $DMBT_CLI" >&2
	copy_bin "$(realpath "$DMBT_CLI")" /usr/sbin/dmbackup
else
	make -s -C "$TOP/tools/dmbackup" OUT="$ROOT/usr/sbin" >&2 ||
		die "failed to build tools/dmbackup (are libdevmapper-dev and libexpat1-dev installed?)"
	copy_bin "$ROOT/usr/sbin/dmbackup" /usr/sbin/dmbackup
fi

# ---- kernel modules --------------------------------------------------------
# Modules the tests may use.  Dependencies are resolved recursively with
# modinfo -F depends; modules built into this kernel need nothing.  The
# modules keep their in-tree relative paths under /lib/modules/<kver>/ and
# `depmod -b` writes modules.dep, so busybox modprobe (and insmod in the
# order of /lib/modules/<kver>/load-order) both work inside the VM.
# crc32c_generic first: libcrc32c's softdep "pre: crc32c" is not a
# dependency modinfo reports, and load-order follows this list's order.
WANT_MODULES="crc32c_generic dm-mod dm-bufio dm-delay dm-flakey dm-snapshot
	dm-zero dm-persistent-data dm-thin-pool dm-era dm-log-writes
	libcrc32c loop brd null_blk ext4 crc16 mbcache jbd2 dm-crypt nbd"
# Packed where the kernel has them: the debug kernel has no SCSI, and the
# tests that need these skip without them; dm-mirror is for bench case 8;
# virtio_pci and virtio_blk give tests/reboot-test.sh its disks (host
# files, DMBT_DRIVES of run-vm.sh): modules of Debian's 6.1, virtio_pci
# built into 6.12; virtio_rng seeds the kernel's random pool from the
# host (run-vm.sh), so a blocking getrandom() (nbd-server's) does not wait
# for jitter entropy under TCG.
OPTIONAL_MODULES="sd_mod scsi_debug dm-mirror virtio_pci virtio_blk virtio_rng"

declare -A DONE=()
ORDER=()

# mod_file <name>: path of the module file for KVER, "" if built in.
mod_file() {
	local f
	f=$(modinfo ${MODROOT:+-b "$MODROOT"} -k "$KVER" -F filename "$1" 2>/dev/null | head -n1) ||
		die "kernel $KVER has no module '$1'"
	[ -n "$f" ] || die "kernel $KVER has no module '$1'"
	case $f in "(builtin)") echo "" ;; *) echo "$f" ;; esac
}

# add_module <name-or-file>: post-order DFS over dependencies, so ORDER ends
# up in a valid insmod order.
add_module() {
	local spec=$1 file name dep
	if [ -f "$spec" ]; then file=$spec; else file=$(mod_file "$spec"); fi
	if [ -z "$file" ]; then
		echo "mkinitramfs: $spec is built into $KVER" >&2
		return 0
	fi
	name=$(basename "$file"); name=${name%%.ko*}
	[ -n "${DONE[$name]:-}" ] && return 0
	DONE[$name]=1
	# softdep "pre: crc32c" (libcrc32c) names an alias busybox modprobe
	# doesn't follow: crc32c_generic heads WANT_MODULES instead.
	for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
		add_module "$dep"
	done
	local rel dest
	case $file in
	"$MODDIR"/*) rel=${file#"$MODDIR"/} ;;
	*)           rel=extra/$(basename "$file") ;;
	esac
	rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
	dest=$ROOT/lib/modules/$KVER/$rel
	mkdir -p "$(dirname "$dest")"
	# 6.12's modules are xz-compressed: store them plain, so busybox insmod
	# and modprobe don't depend on decompression support.
	case $file in
	*.ko.xz)  xz -dc "$file" >"$dest" ;;
	*.ko.zst) zstd -dcq "$file" >"$dest" ;;
	*.ko.gz)  gzip -dc "$file" >"$dest" ;;
	*)        cp "$file" "$dest" ;;
	esac
	ORDER+=("$name")
}

for m in $WANT_MODULES; do add_module "$m"; done
for m in $OPTIONAL_MODULES; do
	if modinfo ${MODROOT:+-b "$MODROOT"} -k "$KVER" -F filename "$m" >/dev/null 2>&1; then
		add_module "$m"
	else
		echo "mkinitramfs: $KVER has no module '$m' (optional)" >&2
	fi
done
add_module "$(readlink -f "$MODULE")"
vermagic=$(modinfo -F vermagic "$MODULE" | awk '{print $1}')
[ "$vermagic" = "$KVER" ] ||
	die "$MODULE was built for '$vermagic', not $KVER"

for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$MODDIR/$f" ] && cp "$MODDIR/$f" "$ROOT/lib/modules/$KVER/"
done
depmod -b "$ROOT" "$KVER"
printf '%s\n' "${ORDER[@]}" >"$ROOT/lib/modules/$KVER/load-order"

# ---- selftests and /init ---------------------------------------------------
mkdir -p "$ROOT/selftests"
cp -a "$SELFTESTS"/. "$ROOT/selftests/"
# The documents whose recipes test_8x_recipes_* run as written.
mkdir -p "$ROOT/selftests/docs"
cp "$TOP/README" "$TOP/Documentation/admin-guide/device-mapper/dm-backup.rst" \
	"$TOP/tools/dmbackup/dmbackup.8" "$ROOT/selftests/docs/"
cp "$TOP/tests/init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"

# ---- pack ------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "mkinitramfs: $OUT ($(du -h "$OUT" | cut -f1); modules: ${ORDER[*]})" >&2
