# SPDX-License-Identifier: GPL-2.0-only
# dm-backup helpers for the selftests; source after lib.sh:
#     . "$DMBT_DIR/lib.sh"; . "$DMBT_DIR/backup.sh"

# bk_table <origin> <backup> <mode> [opt words...]: a table line covering
# the whole origin.
bk_table() {
	_bt_o=$1 _bt_b=$2 _bt_m=$3
	shift 3
	echo "0 $(sectors "$_bt_o") backup $_bt_o $_bt_b $_bt_m $*"
}

# mkthin <meta_MiB> <data_MiB> <vol_MiB>: a thin pool "pool" (64 KiB
# blocks) on fresh loop devices, and in it a thin volume "tv" (thin id 0);
# the pool's metadata device goes to $THIN_META (for thin_delta).
mkthin() {
	THIN_META=$(mkloop "$1") || exit 1
	_mt_data=$(mkloop "$2") || exit 1
	run dmsetup create pool --table "0 $(($2 * 2048)) thin-pool $THIN_META $_mt_data 128 0"
	run dmsetup message pool 0 "create_thin 0"
	run dmsetup create tv --table "0 $(($3 * 2048)) thin /dev/mapper/pool 0"
}

# bk_create <name> <origin> <backup> <mode> [opt words...]: create and
# resume a backup device over the whole origin; the job starts now.
bk_create() {
	_bc_n=$1
	shift
	_bc_t=$(bk_table "$@")
	echo "+ dmsetup create $_bc_n --table '$_bc_t'"
	dmsetup create "$_bc_n" --table "$_bc_t" ||
		fail "dmsetup create $_bc_n failed: $(dmesg | tail -n 3)"
}

# view_state <name>: a backup-view's status word, "attached", or "detached"
# once its job has gone (dm-backup.rst, "Sync mode none and backup-view").
view_state() {
	# shellcheck disable=SC2046 # word splitting wanted
	set -- $(dmsetup status "$1" 2>&1)
	[ "${3:-}" = backup-view ] || fail "not a backup-view: $*"
	echo "${4:-}"
}

# era_now <name>: the current era of a dm-era device (its status: "<start>
# <len> era <metadata block size> <used>/<total> <current era> ...").
era_now() {
	dmsetup status "$1" | awk '{ print $6 }'
}

# bk_copied <name>: chunks copied so far.  bk_total <name>: chunks in all.
bk_copied() {
	backup_status "$1" progress | cut -d/ -f1
}
bk_total() {
	backup_status "$1" progress | cut -d/ -f2
}

# bk_cbw <name>: chunks copied because a write came (status field 5).
bk_cbw() {
	backup_status "$1" cbw_chunks
}

# bk_zero <name>: chunks written as WRITE_ZEROES (status field 6).
bk_zero() {
	backup_status "$1" zero_chunks
}

# count_reached <what> <name> <min>: status counter bk_<what> is >= min.
count_reached() {
	[ "$(bk_"$1" "$2")" -ge "$3" ]
}

# wait_count <what> <name> <min> <timeout_s>: until status counter
# bk_<what> reaches min.
wait_count() {
	wait_until "$4" "$2: $1 below $3 after $4s: \$(backup_status $2)" \
		count_reached "$1" "$2" "$3"
}

# wait_copied <name> <min_chunks> [timeout_s]: wait until at least
# min_chunks are copied.
wait_copied() {
	wait_count copied "$1" "$2" "${3:-60}"
}

# wait_cbw <name> <min_chunks> [timeout_s]: wait until at least min_chunks
# copy-before-write chunks have reached the backup device.  A write that
# started a copy may return before that: it waits for the origin read only.
wait_cbw() {
	wait_count cbw "$1" "$2" "${3:-60}"
}

# two_halves <seed>: the devices of a table with two backup targets, one a
# half (test_57, test_58): origins $o1 $o2 and backup devices $b1 $b2, 16 MiB
# loop devices (256 chunks of 64 KiB) filled with prng seeds seed+1..seed+4;
# their T0 images $DMBT_TMP/t0a and t0b, $DMBT_TMP/expect the two in a row
# (the device), $n a half's sectors.
two_halves() {
	o1=$(mkloop 16) || exit 1
	o2=$(mkloop 16) || exit 1
	b1=$(mkloop 16) || exit 1
	b2=$(mkloop 16) || exit 1
	fill_random "$o1" $(($1 + 1))
	fill_random "$o2" $(($1 + 2))
	fill_random "$b1" $(($1 + 3))
	fill_random "$b2" $(($1 + 4))
	save_image "$o1" "$DMBT_TMP/t0a"
	save_image "$o2" "$DMBT_TMP/t0b"
	cat "$DMBT_TMP/t0a" "$DMBT_TMP/t0b" >"$DMBT_TMP/expect"
	n=$(sectors "$o1")
}

# halves <image> <first> <second>: split an image of such a device in two.
halves() {
	dd if="$1" of="$2" bs=1M count=16 status=none || fail "dd failed"
	dd if="$1" of="$3" bs=1M skip=16 status=none || fail "dd failed"
}

# halves_copied <name> <min>: both targets of a two-target table have
# copied at least min chunks.  halves_state <name> <state>: both report
# that state.
halves_copied() {
	count_reached copied "$1#1" "$2" && count_reached copied "$1#2" "$2"
}
halves_state() {
	state_is "$1#1" "$2" && state_is "$1#2" "$2"
}

# save_image <dev> <file>: copy a device to a file (the oracle images).
save_image() {
	drop_caches "$1"
	dd if="$1" of="$2" bs=1M status=none || fail "cannot save $1 to $2"
}

# pattern_fill <dev> <byte_octal>: fill with one byte value (a sentinel).
pattern_fill() {
	_pf_len=$(($(sectors "$1") * 512))
	tr '\000' "\\$2" </dev/zero | head -c "$_pf_len" |
		dd of="$1" bs=1M iflag=fullblock conv=notrunc status=none ||
		fail "pattern_fill $1 failed"
	sync
}

# chunk_of <dev> <chunk> <chunk_bytes> <file>: extract one chunk.
chunk_of() {
	drop_caches "$1"
	dd if="$1" of="$4" bs="$3" skip="$2" count=1 status=none ||
		fail "cannot read chunk $2 of $1"
}

# chunk_is <dev> <chunk> <chunk_bytes> <image>: succeeds if the chunk on
# dev holds the same data as that chunk of the image (e.g. T0: the walk or a
# write copied it); a predicate for wait_until, where `same` would fail.
chunk_is() {
	chunk_of "$1" "$2" "$3" "$DMBT_TMP/ci.dev"
	chunk_of "$4" "$2" "$3" "$DMBT_TMP/ci.img"
	cmp -s "$DMBT_TMP/ci.dev" "$DMBT_TMP/ci.img"
}

# write_at <dev> <byte_offset> <bytes> <seed> <expect_file>: write prng
# data at an offset through <dev> with O_DIRECT, as one bio of <bytes>
# (a multiple of 512), and mirror it into the expected image.
write_at() {
	[ $(($2 % 512)) -eq 0 ] && [ $(($3 % 512)) -eq 0 ] ||
		fail "write_at $2 $3: offset and length must be multiples of 512"
	dmbt-prng "$4" "$3" >"$DMBT_TMP/wa.$$" || fail "prng failed"
	dd if="$DMBT_TMP/wa.$$" of="$1" bs="$3" count=1 seek="$2" \
		oflag=direct,seek_bytes conv=notrunc status=none ||
		fail "write to $1 at $2 failed"
	dd if="$DMBT_TMP/wa.$$" of="$5" bs=512 seek=$(($2 / 512)) \
		conv=notrunc status=none || fail "cannot mirror into $5"
	rm -f "$DMBT_TMP/wa.$$"
}

# expect_ctr_error <message> <table line>: creating a device with the table
# must fail, leave no device behind, and log the message.
expect_ctr_error() {
	_ec_msg=$1
	_ec_table=$2
	echo "dmbt: ctr case: $_ec_table" >/dev/kmsg
	if dmsetup create bad --table "$_ec_table" 2>/dev/null; then
		fail "table accepted: '$_ec_table'"
	fi
	dmsetup info bad >/dev/null 2>&1 && dmsetup remove bad
	dmesg | tail -n 5 | grep -qF "$_ec_msg" ||
		fail "table '$_ec_table': log lacks '$_ec_msg': $(dmesg | tail -n 3)"
	echo "refused as expected: '$_ec_table' -> $_ec_msg"
}

# bits_set <file>: the numbers of the bits set in a bitmap (bit n is bit
# n % 8 of byte n / 8: the kernel's metadata bitmaps and dmbackup map's
# maps), one per line, ascending.  Busybox awk has no "^": halve instead.
bits_set() {
	od -An -v -tu1 "$1" |
		awk '{ for (i = 1; i <= NF; i++) { v = $i; for (k = 0; k < 8; k++) {
			if (v % 2) print n * 8 + k; v = int(v / 2) } n++ } }'
}

# md_bitmap <meta_dev> <kind> <file>: copy the bitmap of that kind (1
# copied, 2 changed, 3 an increment's map) that the newer superblock on a
# persistent job's metadata device describes (dm-backup-metadata.h) into
# <file>.  Read with O_DIRECT, past the page cache: what a crash would
# find (and no sync, which would wait for a frozen file system).  Sequence
# and block numbers below 2^32 (a test's).
md_bitmap() {
	dd if="$1" of="$DMBT_TMP/md_sb" bs=4096 count=2 iflag=direct status=none ||
		fail "cannot read the superblocks of $1"
	_mb_sb=0
	_mb_s0=$(od -An -tu4 -j 16 -N 4 "$DMBT_TMP/md_sb" | tr -d ' ')
	_mb_s1=$(od -An -tu4 -j 4112 -N 4 "$DMBT_TMP/md_sb" | tr -d ' ')
	[ "$_mb_s1" -gt "$_mb_s0" ] && _mb_sb=1
	# shellcheck disable=SC2046 # word splitting wanted
	set -- "$1" "$2" "$3" $(od -An -v -tu4 -j $((_mb_sb * 4096 + 160)) -N 96 "$DMBT_TMP/md_sb")
	_mb_dev=$1 _mb_kind=$2 _mb_out=$3
	shift 3
	while [ $# -ge 6 ]; do
		if [ "$1" = "$_mb_kind" ]; then
			dd if="$_mb_dev" of="$_mb_out" bs=4096 skip="$3" count="$5" \
				iflag=direct status=none ||
				fail "cannot read bitmap $_mb_kind of $_mb_dev"
			return 0
		fi
		shift 6
	done
	fail "no bitmap of kind $_mb_kind on $_mb_dev (superblock $_mb_sb)"
}

# md_chunks <meta_dev> <kind>: the chunks set in that bitmap, one per line.
md_chunks() {
	md_bitmap "$1" "$2" "$DMBT_TMP/md_chunks.bits"
	bits_set "$DMBT_TMP/md_chunks.bits"
}

# held_meta <dev> [all]: "mdev", a metadata device over <dev> whose
# superblock writes (all its writes with "all") can be held: reads go to
# <dev>, writes through "wsplit", whose first 16 sectors (the superblocks;
# every sector with "all") go through "sbgate".  Hold them with dmsetup
# suspend --noflush sbgate; the caller's EXIT trap should resume sbgate (a
# device removed with bios held leaks them).
held_meta() {
	_hm_n=$(sectors "$1")
	_hm_g=16
	[ "${2:-}" = all ] && _hm_g=$_hm_n
	run dmsetup create sbgate --table "0 $_hm_g linear $1 0"
	{
		echo "0 $_hm_g linear /dev/mapper/sbgate 0"
		[ "$_hm_g" = "$_hm_n" ] || echo "$_hm_g $((_hm_n - _hm_g)) linear $1 $_hm_g"
	} | dmsetup create wsplit || fail "cannot create wsplit"
	run dmsetup create mdev --table "0 $_hm_n delay $1 0 0 /dev/mapper/wsplit 0 0"
}

# late_undone: resume sbgate (held_meta); within 15 s the kernel logs that
# it undid the superblock write it had given up on.
late_undone() {
	run dmsetup resume sbgate
	wait_until 15 'no undo logged: $(dmesg | tail -n 3)' \
		sh -c 'dmesg | tail -n 20 | grep -q "late superblock write is undone"'
}

# superblocks_zero <dev>: the first 8 KiB of <dev> (both superblocks) are
# zeroes, read with O_DIRECT.
superblocks_zero() {
	[ "$(dd if="$1" bs=4096 count=2 iflag=direct status=none | md5sum)" = \
		"$(dd if=/dev/zero bs=4096 count=2 status=none | md5sum)" ]
}
