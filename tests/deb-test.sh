#!/bin/bash
# Behind `make check-deb`: the Debian packages, installed on a clean Debian
# 12, build a module that works.  Not part of `make check` (several
# minutes; the first run also builds the chroot).
#
#   tests/deb-test.sh [--kver <kver>|all]
#
#   1. tests/mkdeb.sh builds dm-backup-dkms and dmbackup (lintian clean);
#   2. a Debian 12 chroot (debootstrap --variant=minbase) with
#      linux-headers-<kver> of the 6.1 and the 6.12 kernel the suite boots
#      (tests/kernels.sh), made once and cached as a tarball under
#      build/deb/, is unpacked afresh into build/deb/root;
#   3. apt-get installs both .debs there (dkms comes in as a dependency);
#      dm-backup-dkms's postinst must leave DKMS's dm-backup.ko for each of
#      the two kernels, built for that kernel (vermagic), dmbackup in
#      /usr/sbin, its man page equal to tools/dmbackup/dmbackup.8 and the
#      sources in /usr/src equal to the tree's;
#   4. the VM boots with DKMS's module (DMBT_MODULE of tests/check.sh, not
#      the tree's build) and runs the demo (selftests/dm-backup/demo.sh:
#      the backup of a busy ext4 must equal the volume at the switch), on
#      the 6.1 kernel, or on <kver>, or on both ("all");
#   5. apt-get purge removes both: no dm-backup.ko left under
#      /lib/modules, nothing in DKMS's tree, /usr/src or /usr/sbin.
# Ends with "check-deb: N passed, N failed" and exits non-zero on any
# failure.  Needs root and the network (debootstrap, apt); install.log
# and purge.log of the chroot's apt runs are in build/deb/.
set -uo pipefail

KVER_ARG=
while [ $# -gt 0 ]; do
	case $1 in
	--kver) KVER_ARG=$2; shift 2 ;;
	*) echo "usage: $0 [--kver <kver>|all]" >&2; exit 2 ;;
	esac
done

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
OUT=$TOP/build/deb
ROOT=$OUT/root
MIRROR=http://deb.debian.org/debian
T_START=$SECONDS

say() { echo "check-deb: $*" >&2; }
die() { say "error: $*"; exit 1; }
PASSED=0 FAILED=0
# Each result line says how long its step took (lap sets LAP_S: no $(...),
# a subshell would not move LAP on).
LAP=$SECONDS
lap()  { LAP_S="$((SECONDS - LAP))s"; LAP=$SECONDS; }
ok()   { lap; echo "ok $1 [$LAP_S]"; PASSED=$((PASSED + 1)); }
fail() { lap; echo "FAIL $1 ($2) [$LAP_S]"; FAILED=$((FAILED + 1)); }
finish() {
	echo "check-deb: total time $((SECONDS - T_START))s"
	echo "check-deb: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
	exit
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
tests/install-deps.sh debootstrap >&2 || die "installing debootstrap failed"

. "$TOP/tests/kernels.sh"
K61=$(newest_kver 6.1) K612=$(newest_kver 6.12)
[ -n "$K61" ] && [ -n "$K612" ] || die "want a 6.1 and a 6.12 kernel in /boot: '$K61' '$K612'"
case $KVER_ARG in
"")  DEMO_KVERS=$K61 ;;
all) DEMO_KVERS="$K61 $K612" ;;
*)   DEMO_KVERS=$KVER_ARG ;;
esac

# ---- 1. the packages -------------------------------------------------------
debs=$(tests/mkdeb.sh "$OUT") || die "make deb failed"
ok "deb (built, lintian clean)"
VERSION=$(dpkg-deb -f "$OUT"/dm-backup-dkms_*_all.deb Version)

# ---- 2. the chroot -----------------------------------------------------------
umount_root() {
	local m
	for m in proc dev; do
		mountpoint -q "$ROOT/$m" && umount "$ROOT/$m"
	done
	return 0
}
trap umount_root EXIT
# Never rm -rf a tree with the host's /dev bound into it.
rm_root() {
	umount_root
	! mountpoint -q "$ROOT/dev" && ! mountpoint -q "$ROOT/proc" ||
		die "$ROOT/dev or /proc still mounted"
	rm -rf --one-file-system "$ROOT"
}
in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive "$@"; }

# The cache is named after the kernels: a new ABI makes a new chroot.
TARBALL=$OUT/chroot-bookworm-$K61-$K612.tar
if [ ! -f "$TARBALL" ]; then
	say "building the chroot (once): debootstrap, linux-headers-{$K61,$K612}"
	rm_root
	debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 ||
		die "debootstrap failed ($OUT/debootstrap.log)"
	# The host's suites: the kernels come from bookworm, its updates and
	# its security updates.
	cat >"$ROOT/etc/apt/sources.list" <<-EOF
	deb $MIRROR bookworm main
	deb $MIRROR bookworm-updates main
	deb http://deb.debian.org/debian-security bookworm-security main
	EOF
	mount -t proc proc "$ROOT/proc"
	{ in_root apt-get update &&
	  in_root apt-get install -y --no-install-recommends \
		linux-headers-"$K61" linux-headers-"$K612"; } >"$OUT/chroot.log" 2>&1 ||
		die "installing the headers in the chroot failed ($OUT/chroot.log)"
	in_root apt-get clean
	umount_root
	tar -C "$ROOT" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL" ||
		die "writing $TARBALL failed"
fi
rm_root
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$TARBALL" || die "unpacking $TARBALL failed"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
lap; say "chroot ready in $LAP_S"

# The headers must be the very ones of the host's images the VM boots.
for k in $K61 $K612; do
	host=$(dpkg-query -W -f='${Version}' "linux-image-$k" 2>/dev/null)
	hdrs=$(in_root dpkg-query -W -f='${Version}' "linux-headers-$k" 2>/dev/null)
	[ "$host" = "$hdrs" ] ||
		die "linux-image-$k is '$host' on the host, linux-headers-$k '$hdrs' in the chroot"
done

# ---- 3. install --------------------------------------------------------------
mkdir -p "$ROOT/tmp/debs"
cp $debs "$ROOT/tmp/debs/"
if in_root apt-get install -y --no-install-recommends \
	$(for d in $debs; do echo "/tmp/debs/${d##*/}"; done) \
	>"$OUT/install.log" 2>&1; then
	ok "install (apt-get install of both .debs)"
else
	fail install "apt-get install failed; see $OUT/install.log"
	tail -n 20 "$OUT/install.log"
	finish
fi
grep -E 'Building for|Building initial|Done\.|skipped' "$OUT/install.log" >&2

# The module DKMS installed for kernel $1 ("" if none).
dkms_ko() { ls "$ROOT"/lib/modules/"$1"/updates/dkms/dm-backup.ko* 2>/dev/null | head -n1; }

for k in $K61 $K612; do
	ko=$(dkms_ko "$k")
	st=$(in_root dkms status -m dm-backup -v "$VERSION" -k "$k" 2>/dev/null)
	vm=$(modinfo -F vermagic "$ko" 2>/dev/null | awk '{print $1}')
	if [ -z "$ko" ]; then
		fail "dkms-$k" "no dm-backup.ko in /lib/modules/$k/updates/dkms"
	elif [ "$vm" != "$k" ]; then
		fail "dkms-$k" "${ko#"$ROOT"} has vermagic '$vm'"
	elif ! grep -q ': installed' <<<"$st"; then
		fail "dkms-$k" "dkms status: '$st'"
	else
		ok "dkms-$k (${ko#"$ROOT"}, $st)"
	fi
done

# The man page and sources: byte for byte the tree's.
man=$ROOT/usr/share/man/man8/dmbackup.8.gz
if [ ! -x "$ROOT/usr/sbin/dmbackup" ]; then
	fail cli "no /usr/sbin/dmbackup"
elif ! in_root dmbackup --help >/dev/null 2>&1; then
	fail cli "/usr/sbin/dmbackup --help fails in the chroot"
elif ! [ -f "$man" ] || ! cmp -s <(zcat "$man") tools/dmbackup/dmbackup.8; then
	fail cli "/usr/share/man/man8/dmbackup.8.gz is not tools/dmbackup/dmbackup.8"
else
	ok "cli (/usr/sbin/dmbackup runs, dmbackup.8.gz = the tree's)"
fi
src=$ROOT/usr/src/dm-backup-$VERSION
bad=
for f in Kbuild Makefile dkms.conf drivers/md/*.[ch]; do
	cmp -s "$f" "$src/$f" || bad="$bad $f"
done
if [ -z "$bad" ]; then
	ok "source (/usr/src/dm-backup-$VERSION = the tree's files)"
else
	fail source "differ or missing in /usr/src/dm-backup-$VERSION:$bad"
fi

# ---- 4. the demo on DKMS's module --------------------------------------------
for k in $DEMO_KVERS; do
	ko=$(dkms_ko "$k")
	if [ -z "$ko" ]; then
		fail "demo-$k" "DKMS built no module for $k"
		continue
	fi
	if DMBT_MODULE=$ko tests/check.sh --mode demo --kver "$k"; then
		ok "demo-$k (DKMS's ${ko#"$ROOT"})"
	else
		fail "demo-$k" "make demo on DKMS's module failed; see build/$k/console.log"
	fi
done

# ---- 5. remove ---------------------------------------------------------------
if ! in_root apt-get purge -y dm-backup-dkms dmbackup >"$OUT/purge.log" 2>&1; then
	fail purge "apt-get purge failed; see $OUT/purge.log"
else
	left=$(cd "$ROOT" && ls -d lib/modules/*/updates/dkms/dm-backup.ko* var/lib/dkms/dm-backup \
		"usr/src/dm-backup-$VERSION" usr/sbin/dmbackup usr/share/man/man8/dmbackup.8.gz \
		2>/dev/null)
	st=$(in_root dkms status -m dm-backup 2>&1)
	if [ -n "$left" ]; then
		fail purge "left behind: $(echo $left)"
	elif [ -n "$st" ]; then
		fail purge "dkms status still says: $st"
	else
		ok "purge (no module, DKMS tree, source, CLI or man page left)"
	fi
fi

# The chroot is disposable; keep it only to look at a failure.
[ "$FAILED" -eq 0 ] && rm_root
finish
