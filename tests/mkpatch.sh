#!/bin/bash
# Behind `make patch`: dm-backup as a patch series against Linux 6.1.
#
#   tests/mkpatch.sh [<outdir>]          (default: build/patch)
#
# Writes <outdir>/0000-cover-letter.patch, 0001-..., 0002-... with real
# `git format-patch --cover-letter`, against a base repository that holds
# only the upstream files the series changes, taken from Debian's
# linux-source-6.1 (so the patches apply with `patch -p1` or `git am` to the
# full tree; tests/patch-test.sh proves it):
#   0001 dm backup: the target: drivers/md/dm-backup*.c|h and
#        dm_backup_trace.h, a `config DM_BACKUP` in drivers/md/Kconfig, the
#        drivers/md/Makefile lines, Documentation/.../dm-backup.rst and its
#        index entry, a MAINTAINERS entry;
#   0002 the selftests: tools/testing/selftests/dm-backup/ and its TARGETS
#        line.
# Nothing is hard-coded about the module's files: the objects come from
# ./Kbuild's dm-backup-y (evaluated by make), the headers are every *.h in
# drivers/md/, and every *.c there must be one of the objects.  The sources
# are the working tree's (the cover letter names HEAD and says whether the
# tree had changes).
#
# The one transformation: out of tree, Kbuild adds -I drivers/md for
# define_trace.h (which includes dm_backup_trace.h by name from the include
# path, TRACE_INCLUDE_PATH "."); in drivers/md/Makefile that becomes
# CFLAGS_<obj>.o += -I$(src) for the object(s) that define
# CREATE_TRACE_POINTS, as drivers/block/rnbd does for its trace header.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/build/patch}
SRCPKG=linux-source-6.1
TARBALL=/usr/src/$SRCPKG.tar.xz
CACHE=$TOP/build/patch-base	# the touched upstream files, per package version

say() { echo "mkpatch: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Files of the kernel tree the series changes (the base repository's content).
BASE_FILES="MAINTAINERS drivers/md/Kconfig drivers/md/Makefile
	Documentation/admin-guide/device-mapper/index.rst
	tools/testing/selftests/Makefile"

# ---- the upstream base ---------------------------------------------------------
if [ ! -f "$TARBALL" ]; then
	say "installing $SRCPKG"
	SUDO=
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $SRCPKG >&2
fi
PKGVER=$(dpkg-query -W -f='${Version}' $SRCPKG)
BASE=$CACHE/$PKGVER
if [ ! -f "$BASE/.complete" ]; then
	say "extracting the touched files from $TARBALL ($PKGVER)"
	rm -rf "$BASE"
	mkdir -p "$BASE"
	# shellcheck disable=SC2086 # word splitting wanted
	# The top Makefile too, for the upstream version in the cover letter.
	# shellcheck disable=SC2086 # word splitting wanted
	tar -C "$BASE" -xJf "$TARBALL" --strip-components=1 $SRCPKG/Makefile \
		$(for f in $BASE_FILES; do echo "$SRCPKG/$f"; done)
	for f in Makefile $BASE_FILES; do [ -f "$BASE/$f" ] || die "$TARBALL has no $f"; done
	awk '/^VERSION/ {v=$3} /^PATCHLEVEL/ {p=$3} /^SUBLEVEL/ {s=$3}
	     END {print v "." p "." s}' "$BASE/Makefile" >"$BASE/.kversion"
	touch "$BASE/.complete"
fi
KVERSION=$(cat "$BASE/.kversion")

# ---- the module's files, from Kbuild -------------------------------------------
cd "$TOP"
# Kbuild may only set what is translated below; anything new needs a rule here.
unknown=$(sed -n 's/^\([A-Za-z_$(){}.-]*\)[[:space:]]*[:+]\{0,1\}=.*/\1/p' Kbuild |
	grep -vx 'obj-m\|dm-backup-y\|ccflags-y' || true)
[ -z "$unknown" ] || die "Kbuild sets $(echo $unknown): teach tests/mkpatch.sh to translate it"
grep -q '^ccflags-y.*-I$(src)/drivers/md' Kbuild ||
	die "Kbuild's ccflags-y changed: check the trace header's include path"
OBJS=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s \
	-f - src=. <<'EOF'
include Kbuild
$(info $(dm-backup-y))
all: ;@:
EOF
)
OBJS=$(echo $OBJS)
[ -n "$OBJS" ] || die "Kbuild's dm-backup-y is empty"
SOURCES=() MKOBJS=()
for o in $OBJS; do
	case $o in
	drivers/md/*.o) ;;
	*) die "Kbuild object $o is not drivers/md/*.o" ;;
	esac
	[ -f "${o%.o}.c" ] || die "Kbuild names $o but ${o%.o}.c does not exist"
	SOURCES+=("${o%.o}.c")
	MKOBJS+=("${o#drivers/md/}")
done
for c in drivers/md/*.c; do
	case " ${SOURCES[*]} " in
	*" $c "*) ;;
	*) die "$c is not in Kbuild's dm-backup-y (not built, so not shipped)" ;;
	esac
done
HEADERS=(drivers/md/*.h)
[ -e "${HEADERS[0]}" ] || die "no header in drivers/md/"
TRACE_OBJS=()
for c in "${SOURCES[@]}"; do
	grep -q '^#define CREATE_TRACE_POINTS' "$c" && TRACE_OBJS+=("$(basename "${c%.c}").o")
done
[ ${#TRACE_OBJS[@]} -gt 0 ] || die "no source defines CREATE_TRACE_POINTS"
SELFTESTS=$(git ls-files tools/testing/selftests/dm-backup)
[ -n "$SELFTESTS" ] || die "no selftests in git"
DOC=Documentation/admin-guide/device-mapper/dm-backup.rst
[ -f "$DOC" ] || die "$DOC missing"

# ---- who and when: the project's identity and HEAD's date (reproducible) ---------
NAME=$(git log -1 --format=%an) EMAIL=$(git log -1 --format=%ae)
export GIT_AUTHOR_NAME=$NAME GIT_AUTHOR_EMAIL=$EMAIL
export GIT_COMMITTER_NAME=$NAME GIT_COMMITTER_EMAIL=$EMAIL
export GIT_AUTHOR_DATE=$(git log -1 --format=%aI) GIT_COMMITTER_DATE=$(git log -1 --format=%cI)
HEAD_ID=$(git rev-parse --short=12 HEAD)
DIRTY=
# shellcheck disable=SC2086
[ -z "$(git status --porcelain -- Kbuild drivers/md "$DOC" tools/testing/selftests/dm-backup)" ] ||
	DIRTY=" plus uncommitted changes"

# ---- the base repository -------------------------------------------------------
REPO=$(mktemp -d /tmp/dmbt-mkpatch.XXXXXX)
trap 'rm -rf "$REPO"' EXIT
g() { git -C "$REPO" -c core.autocrlf=false -c init.defaultBranch=master "$@"; }
g init -q
for f in $BASE_FILES; do
	mkdir -p "$REPO/$(dirname "$f")"
	cp "$BASE/$f" "$REPO/$f"
done
g add -A
g commit -q -m "Linux $KVERSION (Debian $SRCPKG $PKGVER): the files the series touches"

# ---- 0001: the target ----------------------------------------------------------
for f in "${SOURCES[@]}" "${HEADERS[@]}" "$DOC"; do
	mkdir -p "$REPO/$(dirname "$f")"
	cp "$f" "$REPO/$f"
done

# drivers/md/Kconfig: after DM_CLONE, the closest relative.
python3 - "$REPO/drivers/md/Kconfig" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
entry = '''config DM_BACKUP
	tristate "Backup target: live point-in-time backups"
	depends on BLK_DEV_DM
	help
	  A device-mapper target, "backup", that takes a point-in-time
	  backup of a block device while the device stays in use.  Stacked
	  over the origin, it copies each chunk to the backup device before
	  the first write changes it (copy-before-write), while a kernel
	  worker copies the rest in the background, optionally throttled.
	  Sync modes full, top (an incremental backup from a map of changed
	  chunks) and none (with the "backup-view" target, a frozen view of
	  the point in time read at the reader's own pace).

	  See Documentation/admin-guide/device-mapper/dm-backup.rst.

	  To compile this code as a module, choose M here: the module will
	  be called dm-backup.

	  If unsure, say N.

'''
anchor = 'config DM_MIRROR\n'
assert s.count(anchor) == 1, 'drivers/md/Kconfig: no unique "config DM_MIRROR"'
s = s.replace(anchor, entry + anchor)
open(p, 'w').write(s)
EOF

# drivers/md/Makefile: the objects next to dm-clone's, the module next to
# CONFIG_DM_CLONE's line.
python3 - "$REPO/drivers/md/Makefile" "${MKOBJS[*]}" "${TRACE_OBJS[*]}" <<'EOF'
import sys
p, objs, trace_objs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
s = open(p).read()
lines = ['dm-backup-y\t+= ']
for i, o in enumerate(objs):
    if len(lines[-1]) + len(o) > 70 and i > 0:
        lines[-1] = lines[-1].rstrip() + ' \\'
        lines.append('\t\t   ')
    lines[-1] += o + ' '
objs_text = '\n'.join(l.rstrip() for l in lines) + '\n'
anchor = next(l for l in s.splitlines(True) if l.startswith('dm-clone-y'))
s = s.replace(anchor, anchor + objs_text)
anchor = next(l for l in s.splitlines(True) if l.startswith('obj-$(CONFIG_DM_CLONE)'))
add = 'obj-$(CONFIG_DM_BACKUP)\t\t+= dm-backup.o\n'
add += '# define_trace.h includes dm_backup_trace.h from the include path\n'
for o in trace_objs:
    add += 'CFLAGS_%s\t+= -I$(src)\n' % o
s = s.replace(anchor, anchor + add)
open(p, 'w').write(s)
EOF

python3 - "$REPO/Documentation/admin-guide/device-mapper/index.rst" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
anchor = '    dm-clone\n'
assert s.count(anchor) == 1, 'index.rst: no unique dm-clone entry'
s = s.replace(anchor, '    dm-backup\n' + anchor)
open(p, 'w').write(s)
EOF

# MAINTAINERS: after the device-mapper entry.
python3 - "$REPO/MAINTAINERS" "$NAME <$EMAIL>" <<'EOF'
import sys
p, who = sys.argv[1], sys.argv[2]
s = open(p).read()
head = 'DEVICE-MAPPER  (LVM)\n'
i = s.index(head)
j = s.index('\n\n', i) + 2
entry = '''DEVICE-MAPPER BACKUP TARGET
M:	%s
L:	dm-devel@redhat.com
S:	Maintained
F:	Documentation/admin-guide/device-mapper/dm-backup.rst
F:	drivers/md/dm-backup*
F:	drivers/md/dm_backup_trace.h

''' % who
s = s[:j] + entry + s[j:]
open(p, 'w').write(s)
EOF

g add -A
g commit -q -s -F - <<EOF
dm backup: add a target for live point-in-time backups

dm-backup is a device-mapper target, "backup", that brings QEMU's block
backup job into the kernel: stacked over a volume that stays mounted and
in use, it copies every chunk to a backup device before the first write
changes it (copy-before-write), while a kernel worker copies the rest in
the background, optionally throttled.  When the job completes, the backup
device holds the volume exactly as it was when the job started.

Sync modes: full; top, an incremental backup of the chunks a map names
(e.g. from thin_delta or era_invalidate); and none, where the companion
target "backup-view" shows the frozen point in time to a reader that
takes its own time.  Error policies, throttling, pause, events and a
handover of a running job across a table reload are controlled with
messages and reported in the status line; trace events (system
dm_backup) follow QEMU's backup_do_cow() steps.

Documentation/admin-guide/device-mapper/dm-backup.rst describes the
table line, status fields, messages and semantics.

The trace header stays next to the sources; like rnbd's, the object that
creates the trace points gets -I\$(src), so that define_trace.h finds it.
EOF

# ---- 0002: the selftests -------------------------------------------------------
for f in $SELFTESTS; do
	mkdir -p "$REPO/$(dirname "$f")"
	cp -p "$f" "$REPO/$f"
done
python3 - "$REPO/tools/testing/selftests/Makefile" "$REPO/MAINTAINERS" <<'EOF'
import sys
mk, mnt = sys.argv[1], sys.argv[2]
s = open(mk).read()
anchor = 'TARGETS += damon\n'
assert s.count(anchor) == 1, 'selftests/Makefile: no "TARGETS += damon"'
s = s.replace(anchor, anchor + 'TARGETS += dm-backup\n')
open(mk, 'w').write(s)
s = open(mnt).read()
anchor = 'F:	drivers/md/dm_backup_trace.h\n'
s = s.replace(anchor, anchor + 'F:	tools/testing/selftests/dm-backup/\n')
open(mnt, 'w').write(s)
EOF
g add -A
g commit -q -s -F - <<EOF
selftests: dm-backup: add tests of the backup target

Tests of the backup target, one behaviour each, every one with an
oracle (the image of the origin at the point in time, an expected final
image): point in time under load, writes that meet the walk, chunk
geometries, flush/FUA ordering, stalls, suspend/resume, cancel, events,
error policies, throttling, trace events, handover across reloads,
incremental backups from dm-thin and dm-era maps, the backup-view
target, fuzzed table lines and messages, races with removal, memory
pressure and stacking.

  make -C tools/testing/selftests TARGETS=dm-backup run_tests

The tests need root and the options in config, and are meant for a
disposable machine or VM: between tests the harness (run.sh) removes
every dm device, detaches every loop device and unloads brd, null_blk
and scsi_debug.  Each test_*.sh started on its own runs under run.sh,
which also fails a test on a BUG, WARNING, lockdep or KASAN report in
the kernel log.  The C helpers are TEST_GEN_PROGS_EXTENDED: they are
tools the scripts call, not tests.  Tests of the dmbackup CLI and of the
README's and dmbackup(8)'s recipes skip without them (they live in the
dm-backup repository, not in the kernel), as do the few that need lvm2
or nbd-server.
EOF

# ---- format-patch --------------------------------------------------------------
mkdir -p "$OUT"
rm -f "$OUT"/*.patch
g format-patch -q --cover-letter --stat=80 -o "$OUT" HEAD~2 >/dev/null
COVER=$OUT/0000-cover-letter.patch
[ -f "$COVER" ] || die "format-patch wrote no cover letter"
python3 - "$COVER" "$KVERSION" "$SRCPKG $PKGVER" "$HEAD_ID$DIRTY" <<'EOF'
import sys
p, kver, pkg, head = sys.argv[1:]
s = open(p).read()
s = s.replace('*** SUBJECT HERE ***', 'dm: add dm-backup, a target for live point-in-time backups')
s = s.replace('*** BLURB HERE ***', '''\
dm-backup brings QEMU's block backup job into device-mapper: a target,
"backup", stacked over a volume that stays mounted and in use, copies each
chunk to a backup device before the first write changes it, while a kernel
worker copies the rest in the background.  When the job completes, the
backup device holds the volume bit for bit as it was when the job started.
Incremental backups (sync mode top, with a map from thin_delta or
era_invalidate) and a pull-style frozen view (sync mode none with the
"backup-view" target) are built in.

Patch 1 adds the target, its Kconfig entry, Makefile lines, documentation
and a MAINTAINERS entry; patch 2 adds its selftests
(make -C tools/testing/selftests TARGETS=dm-backup run_tests).

Based on Linux %s (Debian %s);
generated by `make patch` from dm-backup %s.''' % (kver, pkg, head))
open(p, 'w').write(s)
EOF
say "series in $OUT:"
ls "$OUT" | sed 's/^/  /' >&2
