#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup export --list: an increment served over NBD with the list of its
# changed chunks, for a puller that reads only those.  A tracking full
# backup (start --meta --track) of a raw volume (dm-linear over a loop
# device; its last chunk is partial), writes at known chunks (one chunk
# twice, one write across two chunks, one in the partial last chunk), then
# start --incremental onto a zeroed device; once it completed, `dmbackup
# export vol --list FILE` serves that device and lists the increment's map,
# and nbd-client (over 127.0.0.1) reads exactly the listed ranges.
# Oracles: the volume's image taken just before start --incremental
# (nothing writes the volume between the image and that start, so it is the
# increment's point in time): the full backup's image (T0) with the ranges
# read over NBD pasted in equals it; the listed chunks are exactly the
# chunks the writes touched; the list equals `info --list map` and start
# --incremental's --list byte for byte; the exported device is zero outside
# the listed ranges.  `export --list -` prints the list alone on stdout.
# Refusals: --list on the export of the full backup (not an increment:
# exit 1, no list file, no export), --list with --stop (exit 2); a failure
# injected at export-list or export-serve leaves no list file.
# tier: user
# timeout: 120
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/nbd.sh"

export_client_ready
RUN=/run/dmbackup
export DMBACKUP_JOBS_DIR="$DMBT_TMP/jobs"
# A failed check leaves no export behind (a starting nbd-server ignores
# SIGTERM: export --stop kills it).
trap 'nbd-client -d /dev/nbd1 >/dev/null 2>&1
	[ -e "$RUN/export-vol.conf" ] && dmbackup export --stop vol >/dev/null 2>&1' EXIT

CHUNK=65536
L=$DMBT_TMP/list

# no_export_state: no state and no view of an export of vol.
no_export_state() {
	[ ! -e "$RUN/export-vol.conf" ] || fail "$RUN/export-vol.conf is left"
	[ ! -e "$RUN/export-vol.pid" ] || fail "$RUN/export-vol.pid is left"
	! dmsetup info vol-dmbackup-export >/dev/null 2>&1 || fail "a view of vol is left"
}

# write_at <seed> <offset> <bytes>: prng data into the volume (O_DIRECT);
# the chunks it touches go to $DMBT_TMP/touched.
write_at() {
	dmbt-prng "$1" "$3" | dd of=/dev/mapper/vol bs="$3" count=1 seek="$2" \
		iflag=fullblock oflag=seek_bytes,direct status=none ||
		fail "writing $3 bytes at $2 failed"
	awk -v o="$2" -v l="$3" -v c=$CHUNK \
		'BEGIN { for (k = int(o / c); k <= int((o + l - 1) / c); k++) print k }' \
		>>"$DMBT_TMP/touched"
}

# list_chunks <list>: the chunks its ranges cover, one per line; fails on
# a range that does not start at a chunk or ends neither at a chunk's end
# nor at the volume's.
list_chunks() {
	awk -v c=$CHUNK -v end=$((n * 512)) '{
		if ($1 % c || ($2 % c && $1 + $2 != end)) { print "bad range " $0; exit 1 }
		for (k = $1 / c; k * c < $1 + $2; k++) print k }' "$1" ||
		fail "$1: $(cat "$1")"
}

# pull <dev> <out>: what a puller does: read each listed range of dev and
# paste it into out at its offset.
pull() {
	while read -r _pl_off _pl_len; do
		dd if="$1" of="$2" bs=$CHUNK skip="$_pl_off" seek="$_pl_off" \
			count="$_pl_len" iflag=skip_bytes,count_bytes \
			oflag=seek_bytes conv=notrunc status=none ||
			fail "reading $_pl_len bytes at $_pl_off of $1 failed"
	done <"$L"
}

disk=$(mkloop 8) || exit 1
bdisk=$(mkloop 8) || exit 1
ibdisk=$(mkloop 8) || exit 1
meta=$(mkloop 1) || exit 1
fill_random "$disk" 9701
# The last chunk is 60 KiB: its range is cut at the end of the volume.
n=$(($(sectors "$disk") - 8))
run dmsetup create vol --table "0 $n linear $disk 0"
table0=$(table_of vol)

info "the full backup, tracking"
save_image /dev/mapper/vol "$DMBT_TMP/t0"
run dmbackup start vol "$bdisk" --meta "$meta" --track
run dmbackup wait vol --interval 0
[ "$(backup_status vol chunk_sectors)" = $((CHUNK / 512)) ] ||
	fail "chunk size: $(backup_status vol)"
same "$bdisk" "$DMBT_TMP/t0" $((n * 512))

info "refused: --list on the export of a full backup"
expect_refusal "is not an increment" dmbackup export vol --list "$L"
[ ! -e "$L" ] || fail "a refused export wrote $L: $(cat "$L")"
no_export_state

info "writes at known chunks, then the increment onto a zeroed device"
: >"$DMBT_TMP/touched"
write_at 9711 $((3 * CHUNK)) 4096
write_at 9712 $((3 * CHUNK + 8192)) 4096
write_at 9713 $((11 * CHUNK - 2048)) 4096
write_at 9714 $((20 * CHUNK)) $((2 * CHUNK))
write_at 9715 $((22 * CHUNK + 512)) 512
write_at 9716 0 4096
write_at 9717 $((n * 512 - 4096)) 4096
sort -n -u "$DMBT_TMP/touched" >"$DMBT_TMP/want"
save_image /dev/mapper/vol "$DMBT_TMP/t1"
run dmbackup start --incremental vol "$ibdisk" --list "$DMBT_TMP/startlist"
run dmbackup wait vol --interval 0

info "failures injected into export --list leave no list"
for step in export-list export-serve; do
	expect_injected $step export vol --list "$L"
	[ ! -e "$L" ] || fail "$step: $L is left"
	no_export_state
done

info "export --list"
dmbackup export vol --list "$L" >"$DMBT_TMP/export.out" 2>&1 ||
	{ cat "$DMBT_TMP/export.out"; fail "dmbackup export vol --list failed"; }
cat "$DMBT_TMP/export.out"
cat "$L"
served=$(sed -n 's/^[[:space:]]*exportname = //p' "$RUN/export-vol.conf")
[ "$(stat -L -c %t:%T "$served")" = "$(stat -L -c %t:%T "$ibdisk")" ] ||
	fail "the export serves $served, not the increment's device $ibdisk"
grep -q "list: $(wc -l <"$DMBT_TMP/want") changed chunks .* in $L\$" \
	"$DMBT_TMP/export.out" || fail "export does not say what it listed"

info "the list is the increment's map: the chunks written"
list_chunks "$L" >"$DMBT_TMP/listed"
cmp -s "$DMBT_TMP/listed" "$DMBT_TMP/want" ||
	fail "listed chunks $(tr '\n' ' ' <"$DMBT_TMP/listed")," \
		"written $(tr '\n' ' ' <"$DMBT_TMP/want")"
dmbackup info --list map "$meta" >"$DMBT_TMP/infolist" ||
	fail "dmbackup info --list map failed"
cmp -s "$L" "$DMBT_TMP/infolist" || fail "info --list map: $(cat "$DMBT_TMP/infolist")"
cmp -s "$L" "$DMBT_TMP/startlist" ||
	fail "start --incremental --list: $(cat "$DMBT_TMP/startlist")"

info "the puller reads the listed ranges over NBD"
run nbd-client -N vol 127.0.0.1 10809 /dev/nbd1
[ -e /sys/block/nbd1/pid ] || fail "/dev/nbd1 is not connected"
cp "$DMBT_TMP/t0" "$DMBT_TMP/pulled"
pull /dev/nbd1 "$DMBT_TMP/pulled"
run nbd-client -d /dev/nbd1
same "$DMBT_TMP/pulled" "$DMBT_TMP/t1"
info "T0 + the listed ranges read over NBD = the image at the increment's point in time"
# The increment wrote only those ranges onto the zeroed device.
truncate -s "$(($(sectors "$ibdisk") * 512))" "$DMBT_TMP/zero"
pull "$DMBT_TMP/t1" "$DMBT_TMP/zero"
same "$ibdisk" "$DMBT_TMP/zero"

info "export --stop; export --list - prints the list alone"
run dmbackup export --stop vol
no_export_state
dmbackup export vol --list - >"$DMBT_TMP/stdout" 2>"$DMBT_TMP/stderr" ||
	{ cat "$DMBT_TMP/stderr"; fail "dmbackup export vol --list - failed"; }
cmp -s "$DMBT_TMP/stdout" "$L" || fail "export --list - printed: $(cat "$DMBT_TMP/stdout")"
grep -q "URI: nbd://127.0.0.1:10809/vol\$" "$DMBT_TMP/stderr" ||
	fail "no URI on stderr: $(cat "$DMBT_TMP/stderr")"
dmbackup export --stop vol --list "$L" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "export --stop --list: exit code $rc, want 2"
run dmbackup export --stop vol
no_export_state

run dmbackup finish --stop-tracking vol
vol_untouched vol "$table0" "$DMBT_TMP/t1"
run dmsetup remove vol
