#!/bin/bash
# Build the debug kernel behind `make check-debug`, once.
#
#   tests/debug-kernel.sh [<dir>]        (default dir: build/debug)
#
# Debian's linux-source-6.1, `make tinyconfig`, tests/debug-kernel.config
# merged on top (KASAN, lockdep, kmemleak, fault injection, ...), `make
# olddefconfig`, `make bzImage modules`, `make modules_install` into
# <dir>/root.  The result is cached: the build is skipped when the stamp
# <dir>/stamp (the fragment's hash and the source package's version) still
# matches, and a changed fragment rebuilds (incrementally) in the same tree.
# Installs the build dependencies (flex bison bc libelf-dev libssl-dev
# linux-source-6.1) when they are missing: plain `make check` never needs
# them.
#
# Last line of stdout, for tests/check.sh:
#   KVER=<release> KDIR=<kernel build dir> KERNEL=<bzImage> MODROOT=<dir>/root
# Everything else goes to stderr (and the build log to <dir>/build.log).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$TOP/build/debug}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
FRAGMENT=$TOP/tests/debug-kernel.config
SRCPKG=linux-source-6.1
OBJ=$DIR/kernel			# O= build dir, also the KDIR for dm-backup.ko
ROOT=$DIR/root			# INSTALL_MOD_PATH: $ROOT/lib/modules/<kver>
LOG=$DIR/build.log

say() { echo "debug-kernel: $*" >&2; }
die() { say "error: $*"; exit 1; }

# ---- build dependencies (not in the suite's list: plain make check -----------
# ---- never needs them) ---------------------------------------------------------
"$TOP/tests/install-deps.sh" $SRCPKG flex bison bc libelf-dev libssl-dev \
	gcc make xz-utils kmod >&2 ||
	die "installing the build dependencies failed"
TARBALL=$(ls /usr/src/$SRCPKG.tar.xz 2>/dev/null) || die "/usr/src/$SRCPKG.tar.xz missing"
PKGVER=$(dpkg-query -W -f='${Version}' $SRCPKG)

STAMP="fragment=$(sha256sum <"$FRAGMENT" | cut -c1-16) $SRCPKG=$PKGVER"
result() {
	local kver
	kver=$(cat "$OBJ/include/config/kernel.release")
	[ -f "$ROOT/lib/modules/$kver/modules.dep" ] || die "$ROOT/lib/modules/$kver: modules not installed"
	echo "KVER=$kver KDIR=$OBJ KERNEL=$OBJ/arch/x86/boot/bzImage MODROOT=$ROOT"
}
if [ "$(cat "$DIR/stamp" 2>/dev/null)" = "$STAMP" ] &&
   [ -f "$OBJ/arch/x86/boot/bzImage" ]; then
	say "cached ($STAMP): $OBJ"
	result
	exit 0
fi

# ---- source: unpacked once per source package version ----------------------
SRC=$DIR/$SRCPKG
if [ "$(cat "$DIR/source-version" 2>/dev/null)" != "$PKGVER" ] || [ ! -f "$SRC/Makefile" ]; then
	say "unpacking $TARBALL ($PKGVER)"
	rm -rf "$SRC" "$OBJ" "$DIR/source-version"
	tar -C "$DIR" -xf "$TARBALL"
	[ -f "$SRC/Makefile" ] || die "$TARBALL did not unpack to $SRC"
	echo "$PKGVER" >"$DIR/source-version"
fi

# ---- config -------------------------------------------------------------------
JOBS=${DMBT_JOBS:-$(nproc)}
T0=$SECONDS
say "configuring: tinyconfig + $FRAGMENT"
rm -f "$DIR/stamp"
mkdir -p "$OBJ"
KMAKE=(make -C "$SRC" O="$OBJ" -j"$JOBS")
{
	"${KMAKE[@]}" tinyconfig
	(cd "$OBJ" && "$SRC/scripts/kconfig/merge_config.sh" -m .config "$FRAGMENT")
	"${KMAKE[@]}" olddefconfig
} >"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "configuring failed (log: $LOG)"; }
# Every option the fragment sets must have survived olddefconfig (a missing
# dependency silently drops it).
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) opt=${line%%=*} want=${line#*=} ;;
	"# CONFIG_"*" is not set") opt=${line#"# "}; opt=${opt%% *}; want=n ;;
	*) continue ;;
	esac
	got=$(sed -n "s/^$opt=//p" "$OBJ/.config")
	[ -n "$got" ] || got=n
	[ "$got" = "$want" ] || { say "config: $opt=$want requested, got $got"; bad=1; }
done <"$FRAGMENT"
[ $bad = 0 ] || die "$FRAGMENT does not apply to $SRCPKG $PKGVER"

# ---- build and install ---------------------------------------------------------
say "building bzImage and modules with -j$JOBS (log: $LOG); takes a while"
"${KMAKE[@]}" bzImage modules >>"$LOG" 2>&1 ||
	{ tail -n 30 "$LOG" >&2; die "kernel build failed (log: $LOG)"; }
rm -rf "$ROOT"
"${KMAKE[@]}" modules_install INSTALL_MOD_PATH="$ROOT" >>"$LOG" 2>&1 ||
	{ tail -n 30 "$LOG" >&2; die "modules_install failed (log: $LOG)"; }
echo "$STAMP" >"$DIR/stamp"
say "built in $((SECONDS - T0))s"
result
