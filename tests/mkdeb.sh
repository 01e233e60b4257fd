#!/bin/bash
# Behind `make deb`: the Debian packages dm-backup-dkms and dmbackup.
#
#   tests/mkdeb.sh [<outdir>]            (default: build/deb)
#
# Copies the working tree (git's tracked and untracked, not ignored files:
# uncommitted changes included, build/ not) to <outdir>/src and runs
# `dpkg-buildpackage -us -uc -b` there, so the checkout stays clean; the
# .debs, .buildinfo and .changes land in <outdir>.  Then lintian on the
# .changes: any error or warning fails the build (tags we accept are
# overridden, with the reason, in debian/*.lintian-overrides).
# Prints the paths of the two .debs, one a line, last.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/build/deb}

say() { echo "mkdeb: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Build dependencies (debian/control's Build-Depends plus the tools): not
# in the suite's default list, CI does not build packages.
"$TOP"/tests/install-deps.sh debhelper dh-dkms dkms dpkg-dev fakeroot \
	lintian libdevmapper-dev libblkid-dev libexpat1-dev >&2 ||
	die "installing the build dependencies failed"

git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1 ||
	die "$TOP is not a git checkout (the file list comes from git)"
rm -rf "$OUT/src"
mkdir -p "$OUT/src"
rm -f "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
# --ignore-failed-read: a tracked file deleted in the working tree is gone.
git -C "$TOP" ls-files -z --cached --others --exclude-standard |
	tar -C "$TOP" -c --null -T - --ignore-failed-read 2>/dev/null |
	tar -C "$OUT/src" -x

say "dpkg-buildpackage in $OUT/src"
(cd "$OUT/src" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 ||
	{ tail -n 30 "$OUT/build.log" >&2; die "dpkg-buildpackage failed ($OUT/build.log)"; }

changes=$(ls "$OUT"/dm-backup_*.changes)
say "lintian $changes"
lintian --fail-on error,warning --display-info "$changes" >&2 ||
	die "lintian reports errors or warnings"
ls "$OUT"/dm-backup-dkms_*_all.deb "$OUT"/dmbackup_*.deb
