# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the recipe tests (test_8x_recipes_*): run the shell recipes of
# README, dmbackup(8) and dm-backup.rst as written.  Source after lib.sh,
# backup.sh and dmbackup.sh.
#
# A recipe is a code block marked in its document, right before the block
# (or before the paragraph that introduces an rst literal block):
#     README          <!-- recipe: NAME -->        an indented block
#     dm-backup.rst   .. recipe: NAME              the next :: literal block
#     dmbackup.8      .\" recipe: NAME             the next .nf/.fi block
# and a block that is not one says why: "not a recipe: REASON" in the same
# places.  recipes_unmarked (test_89) fails on any block without a marker.
#
# In the rst and the man page, "# " starts a command (the root prompt), "> "
# continues one (the shell's PS2) and so does every line after a line that
# ends in a backslash; any other line of the block is the output shown.  The
# README's blocks are commands only.
#
# The placeholders are real in the VM: /dev/sdb, /dev/sdc and /dev/meta are
# device nodes of test devices (recipe_node), /dev/vg/lv a link to the dm
# device vg-lv, as LVM makes them; file systems are mounted on /mnt/data.

RECIPE_DOCS=$DMBT_DIR/docs	# README, dm-backup.rst, dmbackup.8 (mkinitramfs)
# Only the dm-backup repository's VM has them (tests/mkinitramfs.sh packs
# them); a kernel tree has no README or dmbackup(8) of dm-backup.
[ -d "$RECIPE_DOCS" ] || skip "no $RECIPE_DOCS (the documents are packed by the VM runner)"

# recipe_doc <README|rst|man>: the path of a document in the VM.
recipe_doc() {
	case $1 in
	README) echo "$RECIPE_DOCS/README" ;;
	rst) echo "$RECIPE_DOCS/dm-backup.rst" ;;
	man) echo "$RECIPE_DOCS/dmbackup.8" ;;
	*) fail "recipe_doc: unknown document $1" ;;
	esac
}

# recipe_blocks <file>: every code block of the document, one per line, as
# "<line> recipe <NAME>", "<line> not <reason>" or "<line> unmarked", then
# for a recipe its commands as "<line> | <command line>".
recipe_blocks() {
	awk -v kind="$(case $1 in *.rst) echo rst ;; *.8) echo man ;; *) echo readme ;; esac)" '
	function mark(s) {
		if (s ~ /^recipe: /) { sub(/^recipe: /, "", s); pend = "recipe " s }
		else if (s ~ /^not a recipe: /) { sub(/^not a recipe: /, "", s); pend = "not " s }
		else return
		pendline = NR
	}
	function begin_block() {
		print NR " " (pend != "" ? pend : "unmarked")
		isrecipe = pend ~ /^recipe /
		pend = ""
		inblock = 1
		cont = 0
	}
	# One line of a block, without its indentation.
	function line(s,   cmd) {
		if (!isrecipe)
			return
		if (kind == "readme")
			cmd = 1
		else if (s ~ /^# /) { sub(/^# /, "", s); cmd = 1 }
		else if (s ~ /^> /) { sub(/^> /, "", s); cmd = 1 }
		else cmd = cont
		if (!cmd) { cont = 0; return }
		if (kind == "man") {
			gsub(/\\-/, "-", s); gsub(/\\\(dq/, "\"", s); gsub(/\\e/, "\\", s)
			gsub(/\\&/, "", s)
		}
		cont = s ~ /\\$/
		print NR " | " s
	}
	kind == "readme" {
		if (inblock && $0 ~ /^    /) { line(substr($0, 5)); next }
		inblock = 0
		if ($0 ~ /^<!-- .* -->$/) {
			s = $0; sub(/^<!-- /, "", s); sub(/ -->$/, "", s); mark(s)
		} else if ($0 ~ /^    / && prev == "") {
			begin_block(); line(substr($0, 5))
		}
		prev = $0
		next
	}
	kind == "rst" {
		if (inblock) {
			if ($0 ~ /^ / || $0 == "") {
				if ($0 != "") { s = $0; sub(/^ +/, "", s); line(s) }
				next
			}
			inblock = 0
		}
		if ($0 ~ /^\.\. /) { s = $0; sub(/^\.\. /, "", s); mark(s) }
		if (want && $0 != "" && $0 ~ /^ /) {
			want = 0; begin_block(); s = $0; sub(/^ +/, "", s); line(s); next
		}
		if ($0 ~ /::$/) want = 1
		else if ($0 != "") want = 0
		next
	}
	kind == "man" {
		if ($0 ~ /^\.\\" /) { s = $0; sub(/^\.\\" /, "", s); mark(s); next }
		if ($0 == ".nf") { begin_block(); next }
		if ($0 == ".fi") { inblock = 0; next }
		if (inblock) line($0)
	}
	' "$1"
}

# recipe_text <doc> <NAME>: the commands of recipe NAME, ready for sh.
recipe_text() {
	_rt_f=$(recipe_doc "$1") || exit 1
	recipe_blocks "$_rt_f" | awk -v name="$2" '
		$2 == "recipe" { on = ($3 == name); n += on; next }
		$2 != "|" { on = 0; next }
		on { sub(/^[0-9]+ \| /, ""); print }
		END { if (n != 1) exit 1 }'
}

# recipe_run <doc> <NAME>: run the recipe with `sh -e` semantics in a
# subshell of the test (so the test's wrapper functions apply: they stand
# for the applications and take the oracle images); fail if a command of it
# fails.
recipe_run() {
	recipe_text "$1" "$2" >"$DMBT_TMP/recipe-$2.sh" ||
		fail "$1 has no recipe $2 (or more than one)"
	info "recipe $2 of $1:"
	sed 's/^/    /' "$DMBT_TMP/recipe-$2.sh"
	(
		set -e
		. "$DMBT_TMP/recipe-$2.sh"
	) || fail "recipe $2 of $1 failed (exit code $?)"
	info "recipe $2 of $1 ran"
}

# recipe_node <path> <device>: make <path> a block device node of <device>
# (the same major:minor), e.g. recipe_node /dev/sdc /dev/loop3.
recipe_node() {
	_rn_mm=$(stat -L -c '%t %T' "$2") || fail "stat $2 failed"
	rm -f "$1"
	mknod "$1" b $((0x${_rn_mm% *})) $((0x${_rn_mm#* })) ||
		fail "mknod $1 for $2 failed"
}

# recipe_lv <disk>: the LVM-style volume /dev/vg/lv, dm-linear vg-lv over
# the whole disk, with an ext4 mounted on /mnt/data.
recipe_lv() {
	run dmsetup create vg-lv --table "0 $(sectors "$1") linear $1 0"
	mkdir -p /dev/vg /mnt/data
	ln -sf ../mapper/vg-lv /dev/vg/lv
	recipe_mkfs /dev/vg/lv
	run mount -t ext4 /dev/vg/lv /mnt/data
}

# recipe_mkfs <dev>: an ext4 whose inode tables and journal are written by
# mke2fs, so that no lazy init writes behind the tests' backs; without a
# discard, so that what the device held stays in the free blocks.
recipe_mkfs() {
	run mke2fs -q -t ext4 -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$1"
}

# direct_image <dev> <file>: the device's image, read with O_DIRECT (no
# cache, no sync: it works while a device stacked on it is suspended).
direct_image() {
	dd if="$1" of="$2" bs=1M iflag=direct status=none || fail "cannot read $1"
}

# frozen_image <mountpoint> <dev> <file>: freeze the file system, save the
# device's image (O_DIRECT); it stays frozen until `thaw <mountpoint>`.
frozen_image() {
	fsfreeze --freeze "$1" || fail "fsfreeze $1 failed"
	dd if="$2" of="$3" bs=1M iflag=direct status=none ||
		{ fsfreeze --unfreeze "$1"; fail "cannot read $2"; }
}
thaw() {
	fsfreeze --unfreeze "$1" || fail "cannot thaw $1"
}

# start_freezes [dev]: from now on, `dmbackup start` (also as a recipe runs
# it) freezes /mnt/data around it and saves the image of dev (default: the
# device start names first) as $DMBT_TMP/t0: the point in time of start is
# inside it, so that image is the point in time.  `unset -f dmbackup` ends
# it.
start_freezes() {
	_sf_dev=${1:-}
	dmbackup() {
		if [ "$1" = start ]; then
			frozen_image /mnt/data "${_sf_dev:-$2}" "$DMBT_TMP/t0"
			command dmbackup "$@"
			set -- $?
			thaw /mnt/data
			return "$1"
		fi
		command dmbackup "$@"
	}
}

# app_on_bk_mount: from now on, mounting /dev/mapper/bk starts the
# application (app_start), any umount stops it first (app_stop): for the
# recipes that remount a file system through bk.  `unset -f mount umount`
# ends it.
app_on_bk_mount() {
	mount() {
		command mount "$@" || return
		case "$*" in
		*/dev/mapper/bk*) app_start ;;
		esac
	}
	umount() {
		app_stop
		command umount "$@"
	}
}

# bg_ended <pid>: the process is gone or a zombie (ended, not reaped).
bg_ended() {
	[ -e "/proc/$1/stat" ] || return 0
	case $(cat "/proc/$1/stat" 2>/dev/null) in
	*") Z "*) return 0 ;;
	esac
	return 1
}

# bg_wait <pid>: wait until a background job ended (also from a subshell,
# such as the recipe's, for a job of the test's shell, which cannot `wait`
# for it: the job then ends as a zombie); its exit status when this shell
# can tell, else 0.  The jobs are writers told to stop: one still running
# after 120 s is stuck (e.g. on a file system left frozen).
bg_wait() {
	wait_until 120 \
		"background job $1 did not end within 120 s: \$(cat /proc/$1/stat 2>/dev/null)" \
		bg_ended "$1"
	wait "$1"
	set -- $?
	[ "$1" -eq 127 ] && return 0
	return "$1"
}

# app_start / app_stop: the application that writes files to /mnt/data
# (writer_start of dmbackup.sh) meanwhile; app_stop fails if a write failed.
# Both work from the recipe's subshell too (the pid is kept in a file).
app_start() {
	rm -f "$DMBT_TMP/stop"
	writer_start /mnt/data "$DMBT_TMP/stop"
	echo "$WRITER" >"$DMBT_TMP/app.pid"
}
app_stop() {
	[ -s "$DMBT_TMP/app.pid" ] || return 0
	: >"$DMBT_TMP/stop"
	bg_wait "$(cat "$DMBT_TMP/app.pid")" || fail "the application failed to write"
	rm -f "$DMBT_TMP/app.pid"
	info "the application has written $(cat "$DMBT_TMP/stop.count" 2>/dev/null || echo 0) files"
}

# raw_start <dev> / raw_stop: a program that writes the device directly
# (no file system: the pull-style recipes), 64 KiB of prng data at a time
# at scattered chunks, until raw_stop.
raw_start() {
	rm -f "$DMBT_TMP/rawstop"
	(
		_rw_n=$(($(sectors "$1") / 128))
		_rw_i=0
		while [ ! -e "$DMBT_TMP/rawstop" ]; do
			_rw_i=$((_rw_i + 1))
			dmbt-prng $((9000 + _rw_i)) 64K | dd of="$1" bs=64K \
				seek=$(((_rw_i * 37) % _rw_n)) oflag=direct conv=notrunc \
				status=none || exit 1
			echo "$_rw_i" >"$DMBT_TMP/rawstop.count"
			sleep 0.1
		done
	) &
	echo $! >"$DMBT_TMP/raw.pid"
}
raw_stop() {
	[ -s "$DMBT_TMP/raw.pid" ] || return 0
	: >"$DMBT_TMP/rawstop"
	bg_wait "$(cat "$DMBT_TMP/raw.pid")" || fail "the raw writer failed"
	rm -f "$DMBT_TMP/raw.pid"
	info "the raw writer wrote $(cat "$DMBT_TMP/rawstop.count" 2>/dev/null || echo 0) chunks"
}

# app_fs <dev>: a fresh ext4 on <dev>, mounted on /mnt/data, for the
# pull-style recipes: the device is zeroed first (gzip of random data
# crawls under TCG, about 1 MB/s); start the application with few files,
# `WRITER_MAX=16 app_start` (4 MiB; it then keeps rewriting its churn file).
app_fs() {
	dd if=/dev/zero of="$1" bs=64K count=$(($(sectors "$1") / 128)) \
		oflag=direct status=none || fail "cannot zero $1"
	recipe_mkfs "$1"
	mkdir -p /mnt/data
	run mount -t ext4 "$1" /mnt/data
}

# view_dd <dd args>: dd of a pull-style recipe; when it reads a view
# (if=/dev/mapper/...) or an export (if=/dev/nbd...), the application
# (app_start) writes the mounted volume before and after the read, so that
# the image is read while the volume is written; it leaves
# $DMBT_TMP/view-busy for app_pulled (in a pipeline, a failure here would
# not stop the recipe).  The test defines dd() { view_dd "$@"; }.
view_dd() {
	case $1 in
	if=/dev/mapper/*|if=/dev/nbd*)
		rm -f "$DMBT_TMP/view-busy"
		writer_beats "$DMBT_TMP/stop"
		command dd "$@" || return
		writer_beats "$DMBT_TMP/stop"
		: >"$DMBT_TMP/view-busy"
		;;
	*)
		command dd "$@"
		;;
	esac
}

# app_pulled <archive>: the oracle of a pull-style recipe on the mounted
# /mnt/data: the gunzipped archive equals the point-in-time image
# $DMBT_TMP/t0 and is a clean file system, the application (stopped) wrote
# files and they are intact on the volume.
app_pulled() {
	[ -e "$DMBT_TMP/view-busy" ] ||
		fail "the view was not read while the application wrote the volume"
	rm -f "$DMBT_TMP/view-busy"
	gunzip -c "$1" >"$DMBT_TMP/pulled" || fail "gunzip of $1 failed"
	same "$DMBT_TMP/pulled" "$DMBT_TMP/t0"
	run e2fsck -fn "$DMBT_TMP/pulled"
	_ap_n=$(cat "$DMBT_TMP/stop.count" 2>/dev/null || echo 0)
	[ "$_ap_n" -gt 0 ] || fail "the application wrote no file"
	files_intact /mnt/data "$_ap_n"
}

# ---- the pull-over-NBD recipes (test_88, test_98) -------------------------

# export_recipe_setup: nbd-server and nbd-client, /dev/nbd1 free, volhost
# (the volume's host in the recipes) is 127.0.0.1, a backup device
# /dev/sdc, dmbackup start freezing /mnt/data (the T0 image), dd of
# /dev/nbd* wrapped by view_dd.  Small volumes (8 MiB, 2 MiB of files):
# under TCG each nbd-server spends 10 to 30 s on its TLS parameters before
# it serves, and NBD over the loopback interface reads about 1.5 MB/s.
# Source nbd.sh first.
export_recipe_setup() {
	export_client_ready
	grep -q volhost /etc/hosts 2>/dev/null || echo "127.0.0.1 volhost" >>/etc/hosts
	trap 'fs_release /mnt/data; nbd-client -d /dev/nbd1 >/dev/null 2>&1
		for p in /run/dmbackup/export-*.pid; do
			[ -e "$p" ] && kill "$(cat "$p")"; done' EXIT
	_er_disk=$(mkloop 8) || exit 1
	_er_bdisk=$(mkloop 8) || exit 1
	recipe_node /dev/sdc "$_er_bdisk"
	mkdir -p /dev/vg /mnt/data /backup
	start_freezes
	dd() { view_dd "$@"; }
}

# export_recipe <doc> <recipe> <lv>: the recipe on a fresh mounted ext4 on
# /dev/vg/<lv> while the application writes it; the archive
# /backup/<lv>.img.gz is the point-in-time image, no export is left.
export_recipe() {
	info "$1 $2: /dev/vg/$3 pulled over NBD while it is written"
	fill_random /dev/sdc 881
	run dmsetup create "vg-$3" --table "0 $(sectors "$_er_disk") linear $_er_disk 0"
	ln -sf "../mapper/vg-$3" "/dev/vg/$3"
	app_fs "/dev/vg/$3"
	WRITER_MAX=8 app_start
	recipe_run "$1" "$2"
	app_stop
	[ ! -e /sys/block/nbd1/pid ] || fail "the recipe left /dev/nbd1 connected"
	[ -z "$(ls /run/dmbackup/ 2>/dev/null)" ] ||
		fail "the recipe left an export: $(ls /run/dmbackup/)"
	app_pulled "/backup/$3.img.gz"
	run umount /mnt/data
	run e2fsck -fn "/dev/vg/$3"
	run dmsetup remove "vg-$3"
}
