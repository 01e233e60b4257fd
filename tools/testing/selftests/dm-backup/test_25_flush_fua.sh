#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Flushes and FUA through the backup target, observed with dm-log-writes
# under the origin and under the backup device.  dm-log-writes logs a
# plain write only at the next flush that was issued after the write
# completed (so the log is what a power cut would leave), a REQ_FUA write
# as soon as it completes, an empty flush as a flush entry after the
# writes it covers, and a mark (dmsetup message) at once; dmbt-logw.c
# reads the logs.  Cases, each after a mark in the origin's log:
#   a  writes to chunks the walk already copied: an O_DIRECT|O_DSYNC
#      write arrives with FUA; an O_DIRECT write and a buffered write
#      followed by fsync arrive before a flush;
#   b  the same to chunks not copied yet (the writes are parked until
#      their copy has read the chunk, then resubmitted from a workqueue):
#      still FUA, still before the flush; one FUA write straddles two
#      uncopied chunks;
#   c  three O_DIRECT writes (one parked), all completed, then an empty
#      flush: the log holds exactly those writes, then the flush;
#   d  at job completion the backup device gets a flush after every copy
#      write, before the state reads "completed".
# Data oracles: each logged write equals what the test wrote at its sector
# (expected image) and each logged copy equals T0 there; T0 + the origin's
# log == origin == expected image; the backup log copies every sector
# exactly once, and old backup + backup log == backup == T0.
# timeout: 400
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 16) || exit 1	# 256 chunks
b=$(mkloop 16) || exit 1
ol=$(mkloop 8) || exit 1	# origin's log: the test's writes only
bl=$(mkloop 24) || exit 1	# backup's log: 16 MiB of copies + entries
fill_random "$o" 41
fill_random "$b" 42
save_image "$o" "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
n=$(sectors "$o")
run dmsetup create lwo --table "0 $n log-writes $o $ol"
run dmsetup create lwb --table "0 $n log-writes $b $bl"

# 2 chunks a second: the walk stays far from chunks 230..255 meanwhile.
bk_create bk /dev/mapper/lwo /dev/mapper/lwb full 2 speed 131072
# A device without a volatile write cache has its flushes and FUA
# stripped by the block layer before any target sees them.
wc=$(cat /sys/block/dm-$(dmsetup info -c --noheadings -o minor bk)/queue/write_cache)
[ "$wc" = "write back" ] ||
	fail "bk has write_cache '$wc': the test cannot observe flushes"

W=$DMBT_TMP/writes	# <name> <sector> <nr_sectors> <kind> <mark> <flush>
: >"$W"
SEG=-

# seg <name>: a mark in the origin's log; later entries belong to it.
seg() {
	SEG=$1
	run dmsetup message lwo 0 mark "$1"
}

# lw_write <name> <byte_offset> <bytes> <seed> <direct|fua|buffered>
#	   [flush]: write prng data through bk (direct/fua: one pwrite,
#	   one bio; buffered: dd and fsync), mirror it into the expected
#	   image and note what the log must show.  "flush": a flush entry
#	   must follow the write in its segment.
lw_write() {
	dmbt-prng "$4" "$3" >"$DMBT_TMP/data" || fail "prng failed"
	case $5 in
	buffered)
		dd if="$DMBT_TMP/data" of=/dev/mapper/bk bs="$3" count=1 seek="$2" \
			oflag=seek_bytes conv=notrunc,fsync status=none ||
			fail "buffered write $1 failed"
		;;
	*)
		dmbt-logw write /dev/mapper/bk "$2" "$DMBT_TMP/data" "$5" ||
			fail "write $1 failed"
		;;
	esac
	dd if="$DMBT_TMP/data" of="$DMBT_TMP/expect" bs=512 seek=$(($2 / 512)) \
		conv=notrunc status=none || fail "cannot mirror $1"
	echo "$1 $(($2 / 512)) $(($3 / 512)) $5 $SEG ${6:-noflush}" >>"$W"
}

flush_bk() {
	run dmbt-logw flush /dev/mapper/bk
}

info "walk copies chunks 0..7"
wait_copied bk 8 60
[ "$(bk_cbw bk)" -eq 0 ] || fail "copies before writes: $(backup_status bk)"

info "a: writes to copied chunks"
seg a
lw_write a1 $((CH + 4096)) 8192 101 fua
lw_write a2 $((2 * CH + 512)) 3072 102 direct flush
flush_bk
lw_write a3 $((3 * CH + 8192)) 8192 103 buffered flush
[ "$(bk_cbw bk)" -eq 0 ] || fail "a write to a copied chunk copied: $(backup_status bk)"

info "b: writes to uncopied chunks wait for their copies"
copied=$(bk_copied bk)
[ "$copied" -lt 200 ] || fail "the walk is already at $copied chunks"
seg b
lw_write b1 $((255 * CH + 512)) 4096 111 fua
lw_write b2 $((251 * CH - 4096)) 8192 112 fua
lw_write b3 $((240 * CH + 8192)) 8192 113 direct flush
flush_bk
# The writes returned once their chunks were read; the copies land later.
wait_cbw bk 4
[ "$(bk_cbw bk)" -eq 4 ] ||
	fail "cbw_chunks $(bk_cbw bk), want 4 (chunks 255, 250, 251, 240)"

info "c: an empty flush after completed writes"
seg c
lw_write c1 $((4 * CH)) 4096 121 direct flush
lw_write c2 $((230 * CH + 61440)) 4096 122 direct flush
lw_write c3 $((6 * CH + 32768)) 16384 123 direct flush
flush_bk
wait_cbw bk 5
[ "$(bk_cbw bk)" -eq 5 ] || fail "cbw_chunks $(bk_cbw bk), want 5 (chunk 230)"
[ "$(backup_state bk)" = running ] || fail "job ended early: $(backup_status bk)"

info "d: the job completes"
run dmsetup message bk 0 speed 0
wait_state bk completed 120
run dmsetup message lwb 0 mark completed
info "status: $(backup_status bk)"
run dmsetup remove bk
# Removing log-writes logs what no flush covered, and the entry count.
run dmsetup remove lwo
run dmsetup remove lwb

# ---- the origin's log --------------------------------------------------------
dmbt-logw dump "$ol" >"$DMBT_TMP/olog" || fail "cannot read the origin's log"
sed 's/^/olog: /' "$DMBT_TMP/olog"
while read -r name s nr kind mark fl; do
	awk -v name="$name" -v s="$s" -v n="$nr" -v kind="$kind" -v seg="$mark" \
	    -v fl="$fl" '
	function bad(msg) { print "FAIL: " name ": " msg; err = 1 }
	$2 == "flush" { fidx[nf++] = $1; fseg[nf - 1] = $7 }
	$2 == "data" && $3 < s + n && $3 + $4 > s {
		if ($3 < s || $3 + $4 > s + n)
			bad("entry " $1 " (" $3 "+" $4 ") overlaps the write (" s "+" n ")")
		if ($7 != seg)
			bad("entry " $1 " is logged after mark " $7 ", want " seg)
		if (kind == "fua" && $5 !~ /(^|,)fua(,|$)/)
			bad("entry " $1 " arrived without FUA (flags " $5 ")")
		if ($1 > last) last = $1
		sum += $4; cnt++
	}
	END {
		if (sum != n)
			bad("the log holds " sum " of its " n " sectors")
		if (kind != "buffered" && cnt != 1)
			bad("logged as " cnt " entries, want 1 (one bio)")
		if (fl == "flush") {
			ok = 0
			for (i = 0; i < nf; i++)
				if (fidx[i] > last && fseg[i] == seg) ok = 1
			if (!ok)
				bad("no flush after it in segment " seg)
		}
		exit err
	}' "$DMBT_TMP/olog" || fail "write $name: wrong in the origin's log"
done <"$W"
echo "every write is in the origin's log with its flags, in its segment"

# c: exactly the three writes (any order), then the flush, nothing else.
got=$(awk '$7 == "c" && $2 != "mark" { printf "%s:%s+%s ", $2, $3, $4 }' "$DMBT_TMP/olog")
info "segment c: $got"
case $got in
*"flush:0+0 ") ;;
*) fail "segment c does not end with the empty flush: $got" ;;
esac
[ "$(echo $got | wc -w)" -eq 4 ] || fail "segment c holds other entries: $got"
for w in "$((4 * CH / 512))+8" "$((230 * CH / 512 + 120))+8" "$((6 * CH / 512 + 64))+32"; do
	case $got in *"data:$w "*) ;; *) fail "segment c lacks write $w: $got" ;; esac
done
# No write but the test's reached the origin.
want=$(awk '{ s += $3 } END { print s }' "$W")
logged=$(awk '$2 == "data" { s += $4 } END { print s }' "$DMBT_TMP/olog")
[ "$logged" -eq "$want" ] || fail "the origin's log has $logged sectors of data, want $want"

run dmbt-logw check "$ol" "$DMBT_TMP/expect"
cp "$DMBT_TMP/t0" "$DMBT_TMP/replay"
run dmbt-logw replay "$ol" "$DMBT_TMP/replay"
same "$DMBT_TMP/replay" "$DMBT_TMP/expect"
same "$o" "$DMBT_TMP/expect"

# ---- the backup's log --------------------------------------------------------
dmbt-logw dump "$bl" >"$DMBT_TMP/blog" || fail "cannot read the backup's log"
info "backup log: $(awk '$2 == "data"' "$DMBT_TMP/blog" | wc -l) copy writes," \
     "$(awk '$2 == "flush"' "$DMBT_TMP/blog" | wc -l) flushes"
grep -v ' data ' "$DMBT_TMP/blog" | sed 's/^/blog: /'
awk -v n="$n" '
	$2 == "flush" { lastflush = $1 }
	$2 == "data" { lastdata = $1; sum += $4 }
	$2 == "mark" && $7 == "completed" { done = $1 }
	END {
		if (lastflush == "") { print "FAIL: no flush reached the backup device"; exit 1 }
		if (lastdata > lastflush) {
			print "FAIL: copy write " lastdata " after the last flush " lastflush
			exit 1
		}
		if (done == "" || done < lastflush) {
			print "FAIL: the final flush (" lastflush ") is not before" \
			      " the state read completed (" done ")"
			exit 1
		}
		if (sum != n) { print "FAIL: copies wrote " sum " sectors, want " n; exit 1 }
	}' "$DMBT_TMP/blog" || fail "the backup's log is wrong"
echo "the backup device got its flush after every copy and before 'completed'"
run dmbt-logw check "$bl" "$DMBT_TMP/t0"
cp "$DMBT_TMP/b0" "$DMBT_TMP/replay"
run dmbt-logw replay "$bl" "$DMBT_TMP/replay"
same "$DMBT_TMP/replay" "$DMBT_TMP/t0"
same "$b" "$DMBT_TMP/t0"
