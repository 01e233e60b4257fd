#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A view never attaches to a job whose table is going away.  Thirty times,
# a job's table is replaced by a linear one (the job's destructor runs)
# while views of it are created and read with the two-device table line.
# Each view either attached before the swap (its reads give T0, then fail
# once it is detached) or is refused after it; none may reach the freed
# job (on the debug kernel KASAN would report it; the runner scans the
# log).  Writes go on meanwhile; the origin keeps every one of them.
# Eight rounds in make check, thirty in make check-long; thirty take about 3
# minutes on the stock kernels under load and about 12 on the debug kernel
# (KASAN), hence the timeout.
# timeout: 900
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

CH=65536
o=$(mkloop 8) || exit 1
b=$(mkloop 8) || exit 1
n=$(sectors "$o")
fill_random "$o" 791
cp "$o" "$DMBT_TMP/expect" 2>/dev/null || save_image "$o" "$DMBT_TMP/expect"

# viewer <i>: create, read and remove views until the job is gone.
viewer() {
	_v=0
	while [ $_v -lt 20 ]; do
		_v=$((_v + 1))
		dmsetup create "v$1" --table "0 $n backup-view $o $b" 2>/dev/null || continue
		if dd if="/dev/mapper/v$1" of="$DMBT_TMP/r$1" bs=$CH skip=$((_v % 16)) \
			count=1 iflag=direct status=none 2>/dev/null; then
			chunk_of "$DMBT_TMP/t0" $((_v % 16)) $CH "$DMBT_TMP/c$1"
			cmp -s "$DMBT_TMP/r$1" "$DMBT_TMP/c$1" ||
				{ echo "view read of chunk $((_v % 16)) is not T0"; exit 1; }
		fi
		dmsetup remove "v$1" || { echo "cannot remove v$1"; exit 1; }
	done
	exit 0
}

i=0
rounds=$(campaign 8 30)
info "$rounds rounds"
while [ $i -lt "$rounds" ]; do
	i=$((i + 1))
	save_image "$o" "$DMBT_TMP/t0"
	bk_create bk "$o" "$b" none
	viewer a & va=$!
	viewer b & vb=$!
	write_at /dev/mapper/bk $(((i % 16) * CH + 512)) 4096 $((7900 + i)) "$DMBT_TMP/expect"
	run dmsetup load bk --table "0 $n linear $o 0"
	run dmsetup resume bk
	wait "$va" || fail "viewer a failed in round $i"
	wait "$vb" || fail "viewer b failed in round $i"
	run dmsetup remove bk
done
same "$o" "$DMBT_TMP/expect"
