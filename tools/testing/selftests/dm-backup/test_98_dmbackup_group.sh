#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup start A BKA B BKB: one point in time for both jobs of a group.
# A writer writes record n (a 4 KiB block "rec <n>" at block n % K of a
# record area) to volume A, O_DIRECT and fsync'ed, and only once that
# write completed, record n to volume B, while the group starts.
# Oracles: the images of both volumes at the shared instant, read through
# their hidden devices by a test hook (DMBACKUP_HOOK_AT) run just before
# the first resume, while every volume is suspended; each backup must
# equal its image bit for bit, and B's newest record in the backups must not be
# newer than A's (a write that completed on A before B's record: a backup
# of B without A's is no point in time).  The hook also sleeps before B's
# suspend, where A is suspended already and the writer must be held: a
# start that resumed A before suspending B lets it write on.  status, wait
# and finish take both volumes; both get their tables back.
# tier: user
# timeout: 120
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"

K=32				# records in the area: blocks FIRST .. FIRST+K-1
FIRST=$((8 * 256 - K))		# the last 128 KiB of the 8 MiB volumes
DD=/usr/bin/dd
[ -x $DD ] || DD=dd

da=$(mkloop 8) || exit 1
db=$(mkloop 8) || exit 1
ba=$(mkloop 8) || exit 1
bb=$(mkloop 8) || exit 1
fill_random "$da" 981
fill_random "$db" 982
mkvol ga "$da"
mkvol gb "$db"
ta=$(table_of ga)
tb=$(table_of gb)

# rec <n>: the 4 KiB record n.
rec() {
	printf 'rec %010d\n%4081s' "$1" ""
}

# put_rec <volume> <n>: write record n to its block, O_DIRECT, synced.
put_rec() {
	rec "$2" | dd of="/dev/mapper/$1" bs=4096 seek=$((FIRST + $2 % K)) \
		iflag=fullblock oflag=direct conv=fsync,notrunc status=none
}

# newest <image>: the highest record number in the image's record area.
newest() {
	dd if="$1" bs=4096 skip=$FIRST count=$K status=none |
		grep -ao 'rec [0-9]\{10\}' | cut -c5- | sort -n | tail -n 1 |
		sed 's/^0*\([0-9]\)/\1/'
}

# count_above <file> <n>: the counter in file is above n.
count_above() {
	[ "$(cat "$1" 2>/dev/null || echo 0)" -gt "$2" ]
}

stop=$DMBT_TMP/stop
(
	n=0
	while [ ! -e "$stop" ]; do
		n=$((n + 1))
		put_rec ga $n || { echo "writer: record $n to ga failed" >&2; exit 1; }
		put_rec gb $n || { echo "writer: record $n to gb failed" >&2; exit 1; }
		put_counter "$stop.n" $n
	done
) &
writer=$!
trap 'touch "$stop"' EXIT
wait_until 30 "the writer does not write" count_above "$stop.n" 8

cat >"$DMBT_TMP/hook" <<EOF
case \$DMBACKUP_HOOK_STEP in
suspend:gb) sleep 1 ;;
resume:ga)
	$DD if=/dev/mapper/ga-dmbackup-origin of=$DMBT_TMP/ia bs=1M iflag=direct status=none &&
	$DD if=/dev/mapper/gb-dmbackup-origin of=$DMBT_TMP/ib bs=1M iflag=direct status=none ;;
esac
EOF

info "dmbackup start ga BKA gb BKB, while the writer writes A then B"
DMBACKUP_HOOK_AT=suspend:gb,resume:ga DMBACKUP_HOOK="sh $DMBT_TMP/hook" \
	dmbackup start ga "$ba" gb "$bb" --speed 2M >"$DMBT_TMP/out" 2>&1
rc=$?
cat "$DMBT_TMP/out"
[ $rc -eq 0 ] || fail "dmbackup start of the group: exit code $rc"
grep -q '^group of 2 volumes started' "$DMBT_TMP/out" || fail "start did not say group"
[ -s "$DMBT_TMP/ia" ] && [ -s "$DMBT_TMP/ib" ] || fail "the hook took no images"
at=$(cat "$stop.n")
wait_until 30 "the writer is stuck after the start" count_above "$stop.n" $((at + 8))
touch "$stop"
wait $writer || fail "the writer failed"
info "writer: $(cat "$stop.n") records, $at when start returned"

dmbackup status ga gb >"$DMBT_TMP/st" || fail "dmbackup status ga gb failed"
cat "$DMBT_TMP/st"
grep -q '^ga: full ' "$DMBT_TMP/st" && grep -q '^gb: full ' "$DMBT_TMP/st" ||
	fail "status ga gb does not show both jobs"
run dmbackup wait ga gb --interval 0
info "copy-before-write: ga $(bk_cbw ga), gb $(bk_cbw gb)"
[ "$(bk_cbw ga)" -gt 0 ] && [ "$(bk_cbw gb)" -gt 0 ] ||
	fail "the writer never met a job (no copy-before-write)"
run dmbackup finish ga gb
vol_untouched ga "$ta"
vol_untouched gb "$tb"

na=$(newest "$ba")
nb=$(newest "$bb")
info "newest record in the backups: A $na, B $nb"
[ "${na:-0}" -gt 0 ] && [ -n "$nb" ] || fail "no record in a backup"
[ "$nb" -le "$na" ] || fail "B's backup has record $nb, newer than A's newest $na"
[ "$nb" -ge $((na - 1)) ] || fail "B's backup misses record $((na - 1)) (newest $nb)"
info "each backup equals its volume at the shared instant"
same "$ba" "$DMBT_TMP/ia"
same "$bb" "$DMBT_TMP/ib"
