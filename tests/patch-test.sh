#!/bin/bash
# Behind `make check-patch` (and the pseudo-test "patch" of `make check`):
# the series of `make patch` must apply to Linux 6.1, configure, build and
# pass checkpatch.
#
#   tests/patch-test.sh
#
# Steps, each counted:
#   applies    tests/mkpatch.sh writes build/patch/; every patch applies to a
#              pristine linux-source-6.1 tree with `patch -p1 --dry-run`,
#              then for real
#   config     tinyconfig + 64BIT, MODULES, BLOCK, MD, BLK_DEV_DM and
#              DM_BACKUP=m (plus tracing and fault injection, so that the
#              trace header and the fault knob are compiled in-tree) with
#              scripts/config and olddefconfig; CONFIG_DM_BACKUP=m must
#              survive olddefconfig (i.e. the Kconfig entry works)
#   builds     make W=1 modules_prepare, then drivers/md/dm-backup.ko in-tree
#              with W=1: no compiler warning or error
#   checkpatch scripts/checkpatch.pl --strict on every patch (the cover
#              letter has no diff): 0 errors, 0 warnings, 0 checks; the
#              verdict on an unchanged patch is reused (build/patch-tree/
#              checkpatch-cache/, keyed by the patch without its commit
#              id and date, and by checkpatch.pl itself)
# Last line: "patch: N passed, N failed"; exit status non-zero on failure.
#
# Cached in build/patch-tree/: the unpacked source (per package version;
# the series applied last time is reverted with patch -R before the new one
# is applied) and the O= object directory (its .config is replaced only when
# the new one differs, so modules_prepare is not redone for nothing).  Installs flex, bison, bc,
# libelf-dev, libssl-dev and linux-source-6.1 when missing.  Builds run
# under `nice -n 10` with DMBT_JOBS jobs (default 2).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR=$TOP/build/patch-tree
SERIES=$TOP/build/patch
SRCPKG=linux-source-6.1
SRC=$DIR/$SRCPKG
OBJ=$DIR/obj
APPLIED=$DIR/applied		# copy of the series applied to $SRC
LOG=$DIR/log
JOBS=${DMBT_JOBS:-2}
T0=$SECONDS

say() { echo "patch-test: $*" >&2; }
PASSED=0 FAILED=0
pass() { echo "ok patch: $1"; PASSED=$((PASSED + 1)); }
failstep() { echo "FAIL patch: $1 ($2)"; FAILED=$((FAILED + 1)); }
finish() {
	say "took $((SECONDS - T0))s; logs in $LOG/"
	echo "patch: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
mkdir -p "$DIR" "$LOG"

# ---- dependencies (a missing tree is reported by the steps below) -------------
"$TOP/tests/install-deps.sh" $SRCPKG flex bison bc libelf-dev libssl-dev \
	gcc make xz-utils patch python3 >&2 ||
	say "installing the build dependencies failed"
TARBALL=/usr/src/$SRCPKG.tar.xz
PKGVER=$(dpkg-query -W -f='${Version}' $SRCPKG 2>/dev/null)
if [ ! -f "$TARBALL" ] || [ -z "$PKGVER" ]; then
	failstep applies "$TARBALL missing"
	for s in config builds checkpatch; do failstep $s "no tree"; done
	finish
fi

# ---- the series -------------------------------------------------------------------
if ! "$TOP/tests/mkpatch.sh" "$SERIES" 2>"$LOG/mkpatch.log"; then
	cat "$LOG/mkpatch.log" >&2
	failstep applies "make patch failed"
	for s in config builds checkpatch; do failstep $s "no series"; done
	finish
fi
PATCHES=("$SERIES"/0[0-9][0-9][1-9]-*.patch)

# ---- a pristine tree --------------------------------------------------------------
# Revert what was applied last time; unpack again if that does not work or
# the package changed.
pristine=
if [ "$(cat "$DIR/source-version" 2>/dev/null)" = "$PKGVER" ] && [ -f "$SRC/Makefile" ]; then
	pristine=1
	if ls "$APPLIED"/*.patch >/dev/null 2>&1; then
		for p in $(ls "$APPLIED"/*.patch | sort -r); do
			if ! patch -d "$SRC" -p1 -R -s -f <"$p" >"$LOG/revert.log" 2>&1; then
				say "cannot revert $(basename "$p"): unpacking again"
				pristine=
				break
			fi
		done
		rm -rf "$APPLIED"
	fi
fi
if [ -z "$pristine" ]; then
	say "unpacking $TARBALL ($PKGVER) into $DIR"
	rm -rf "$SRC" "$OBJ" "$APPLIED" "$DIR/source-version"
	if ! nice -n 10 tar -C "$DIR" -xf "$TARBALL" || [ ! -f "$SRC/Makefile" ]; then
		failstep applies "cannot unpack $TARBALL"
		for s in config builds checkpatch; do failstep $s "no tree"; done
		finish
	fi
	echo "$PKGVER" >"$DIR/source-version"
fi

# ---- applies ------------------------------------------------------------------------
ok=1
mkdir -p "$APPLIED"
for p in "${PATCHES[@]}"; do
	n=$(basename "$p")
	if ! patch -d "$SRC" -p1 --dry-run <"$p" >"$LOG/apply-$n.log" 2>&1; then
		failstep applies "$n does not apply (dry run); see $LOG/apply-$n.log"
		ok=
		break
	fi
	if ! patch -d "$SRC" -p1 <"$p" >>"$LOG/apply-$n.log" 2>&1; then
		failstep applies "$n failed to apply; see $LOG/apply-$n.log"
		ok=
		break
	fi
	cp "$p" "$APPLIED/"
	# patch prints "Hunk #1 succeeded at 90 (offset 3 lines)" or fuzz:
	# tolerated, but shown.
	grep -E 'with fuzz|\(offset -?[0-9]+ lines?\)' "$LOG/apply-$n.log" | sed "s/^/patch-test: $n: /" >&2
done
if [ -z "$ok" ]; then
	for s in config builds checkpatch; do failstep $s "series not applied"; done
	finish
fi
pass "applies (${#PATCHES[@]} patches to $SRCPKG $PKGVER; $((SECONDS - T0))s with make patch)"

# ---- config -------------------------------------------------------------------------
# Made in a separate O= directory and copied to $OBJ only when it differs:
# a rewritten .config (new mtime) would make modules_prepare start over.
# Not the variables of an outer make (make check KVER=... C=1 ...): the
# kernel's make would take them as its own.
kmake() {
	nice -n 10 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$SRC" O="$1" -j"$JOBS" "${@:2}"
}
CFG=$DIR/cfg
mkdir -p "$OBJ" "$CFG"
t=$SECONDS
cfg_ok=
{
	kmake "$CFG" tinyconfig &&
	"$SRC/scripts/config" --file "$CFG/.config" \
		-e 64BIT -e MODULES -e MODULE_UNLOAD -e BLOCK -e BLK_DEV -e MD \
		-m BLK_DEV_DM -m DM_BACKUP \
		-e SYSFS -e DEBUG_FS -e FTRACE -e ENABLE_DEFAULT_TRACERS \
		-e FAULT_INJECTION -e FAULT_INJECTION_DEBUG_FS &&
	kmake "$CFG" olddefconfig
} >"$LOG/config.log" 2>&1 && cfg_ok=1
if [ -n "$cfg_ok" ] && grep -qx 'CONFIG_DM_BACKUP=m' "$CFG/.config"; then
	cmp -s "$CFG/.config" "$OBJ/.config" || cp "$CFG/.config" "$OBJ/.config"
	pass "config (CONFIG_DM_BACKUP=m after olddefconfig; $((SECONDS - t))s)"
else
	failstep config "CONFIG_DM_BACKUP=m did not survive olddefconfig; see $LOG/config.log"
	failstep builds "no config"
	cfg_ok=
fi

# ---- builds -------------------------------------------------------------------------
if [ -n "$cfg_ok" ]; then
	t=$SECONDS
	# W=1 here too: a change of flags would rebuild scripts/mod below.
	if ! kmake "$OBJ" W=1 modules_prepare >"$LOG/modules_prepare.log" 2>&1; then
		failstep builds "make modules_prepare failed; see $LOG/modules_prepare.log"
	else
		rm -f "$OBJ"/drivers/md/dm-backup*.o "$OBJ"/drivers/md/dm-backup.ko
		# A single module without vmlinux: modpost cannot resolve the
		# kernel's symbols and says so ("undefined!"); only the
		# compiler's diagnostics count.
		kmake "$OBJ" W=1 drivers/md/dm-backup.ko >"$LOG/build.log" 2>&1
		rc=$?
		diags=$(grep -E '(warning|error):' "$LOG/build.log" | grep -v 'modpost: ' || true)
		if [ $rc -eq 0 ] && [ -f "$OBJ/drivers/md/dm-backup.ko" ] && [ -z "$diags" ]; then
			pass "builds (drivers/md/dm-backup.ko, W=1, no warnings; $((SECONDS - t))s)"
		else
			[ -n "$diags" ] && echo "$diags" | head -n 40 | sed 's/^/# /'
			failstep builds "make W=1 drivers/md/dm-backup.ko: rc $rc, $(echo -n "$diags" | grep -c .) diagnostics; see $LOG/build.log"
		fi
	fi
fi

# ---- checkpatch -------------------------------------------------------------------------
t=$SECONDS
e=0 w=0 c=0
for p in "${PATCHES[@]}"; do
	n=$(basename "$p")
	# A verdict is kept per patch content (without the commit id and
	# date lines, which change with every commit of the project): a patch
	# that did not change is not checked again by the same checkpatch.
	key=$( { sha256sum <"$SRC/scripts/checkpatch.pl"
		 sed '1d; /^Date: /d' "$p"; } | sha256sum | cut -c1-32)
	if [ -f "$DIR/checkpatch-cache/$key" ]; then
		cp "$DIR/checkpatch-cache/$key" "$LOG/checkpatch-$n.log"
	else
		(cd "$SRC" && nice -n 10 scripts/checkpatch.pl --strict --color=never "$p") \
			>"$LOG/checkpatch-$n.log" 2>&1
		mkdir -p "$DIR/checkpatch-cache"
		cp "$LOG/checkpatch-$n.log" "$DIR/checkpatch-cache/$key"
	fi
	set -- $(sed -n 's/^total: \([0-9]*\) errors, \([0-9]*\) warnings, \([0-9]*\) checks.*/\1 \2 \3/p' \
		"$LOG/checkpatch-$n.log")
	if [ $# -ne 3 ]; then
		echo "# checkpatch: $n: no verdict; see $LOG/checkpatch-$n.log"
		e=$((e + 1))
		continue
	fi
	echo "# checkpatch: $n: $1 errors, $2 warnings, $3 checks"
	e=$((e + $1)) w=$((w + $2)) c=$((c + $3))
done
if [ $((e + w + c)) -eq 0 ]; then
	pass "checkpatch --strict (${#PATCHES[@]} patches clean; $((SECONDS - t))s)"
else
	failstep checkpatch "$e errors, $w warnings, $c checks; see $LOG/checkpatch-*.log"
fi
finish
