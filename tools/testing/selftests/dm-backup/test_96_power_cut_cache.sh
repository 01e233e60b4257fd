#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A power cut with the devices' write caches in play.  Origin, backup and
# metadata device each sit under dm-log-writes, which logs a plain write
# only at the next flush issued after it completed and a FUA write at
# once: a log replayed up to a point is what a power cut there leaves on
# a disk with a volatile cache (writes not flushed are lost).  While a
# persistent job runs under FUA writes, marks go into the three logs
# every few hundred ms, 24 of them (60 with check-long): origin first,
# then metadata, then backup, so each device's crash comes no earlier
# than the one before, as the invariant orders them.  Then, for every
# mark, the three disks are rebuilt as the cut at that mark leaves them,
# the same table continues the job from the rebuilt metadata, and the
# backup must equal the origin's image before the job: a commit must
# follow a flush of the backup device, and a write reach the origin only
# after its chunk's commit is durable.
# tier: crash
# timeout: 900
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 4) || exit 1		# 1024 chunks of 4 KiB
b=$(mkloop 4) || exit 1
m=$(mkloop 1) || exit 1
ol=$(mkloop 16) || exit 1
bl=$(mkloop 32) || exit 1
ml=$(mkloop 32) || exit 1
fill_random "$o" 96
save_image "$o" "$DMBT_TMP/t0"
save_image "$b" "$DMBT_TMP/b0"
save_image "$m" "$DMBT_TMP/m0"
# The metadata disk delays writes by 200 ms (a slow metadata device): a
# write that reached the origin before its chunk's commit (a broken
# module) sits in the origin's log some 400 ms before the commit, longer
# than the gap between a mark in the origin's log and the next in the
# metadata's, so marks fall between them.
run dmsetup create slowm --table "0 $(sectors "$m") delay $m 0 0 $m 0 200"
for d in o:"$o":"$ol" b:"$b":"$bl" m:/dev/mapper/slowm:"$ml"; do
	dev=${d#*:}
	run dmsetup create "lw${d%%:*}" --table \
		"0 $(sectors "${dev%%:*}") log-writes ${dev%%:*} ${dev#*:}"
done

info "a persistent job under FUA writes, marks in the three logs"
# The walk at 32 KiB/s: running at every mark, however slow the host.
bk_create bk /dev/mapper/lwo /dev/mapper/lwb full 6 chunk_size 8 speed 32768 \
	meta /dev/mapper/lwm
(i=0; while [ ! -e "$DMBT_TMP/stop" ]; do
	dmbt-prng "$((9600 + i))" 4096 >"$DMBT_TMP/w" &&
	dmbt-logw write /dev/mapper/bk $(((i * 2654435761) % 1024 * 4096)) \
		"$DMBT_TMP/w" fua || exit 1
	i=$((i + 1))
	sleep 0.05
done) &
writer=$!
nmarks=$(campaign 24 60)
k=1
while [ "$k" -le "$nmarks" ]; do
	for d in lwo lwm lwb; do
		run dmsetup message "$d" 0 mark "m$k"
	done
	echo "m$k" >>"$DMBT_TMP/marks"
	k=$((k + 1))
	sleep 0.2
done
info "$nmarks marks, the job at $(backup_status bk progress)"
run dmsetup message bk 0 speed 0
wait_state bk completed 120
touch "$DMBT_TMP/stop"
wait "$writer" || fail "a write failed"
run dmsetup remove bk
for d in lwo lwm lwb slowm; do
	run dmsetup remove "$d"
done

# For each mark: the three disks as a cut there leaves them, built on from
# the previous mark's.
cp "$DMBT_TMP/t0" "$DMBT_TMP/o.img"
cp "$DMBT_TMP/b0" "$DMBT_TMP/b.img"
cp "$DMBT_TMP/m0" "$DMBT_TMP/m.img"
prev=-
for k in $(cat "$DMBT_TMP/marks"); do
	for d in o:"$ol" b:"$bl" m:"$ml"; do
		dmbt-logw replay "${d#*:}" "$DMBT_TMP/${d%%:*}.img" "$prev" "$k" \
			2>/dev/null || fail "replay of ${d%%:*} up to $k failed"
	done
	prev=$k
	for d in o b m; do
		cp "$DMBT_TMP/$d.img" "$DMBT_TMP/$d.run"
	done
	ro=$(losetup --show -f "$DMBT_TMP/o.run") || fail "losetup"
	rb=$(losetup --show -f "$DMBT_TMP/b.run") || fail "losetup"
	rm_=$(losetup --show -f "$DMBT_TMP/m.run") || fail "losetup"
	run dmsetup create bk --notable
	run dmsetup load bk --table "$(bk_table "$ro" "$rb" full 4 chunk_size 8 meta "$rm_")"
	state=$(dmsetup status --inactive bk | awk '{ print $5 }')
	case $state in
	running|paused|completed) ;;
	*) fail "cut at $k: the job came back $state" ;;
	esac
	run dmsetup resume bk
	[ "$state" != paused ] || run dmsetup message bk 0 resume
	wait_state bk completed 60
	same "$rb" "$DMBT_TMP/t0"
	info "cut at $k: the metadata said $state; continued, backup == T0"
	run dmsetup remove bk
	for l in "$ro" "$rb" "$rm_"; do
		run losetup -d "$l"
	done
	rm -f "$DMBT_TMP/o.run" "$DMBT_TMP/b.run" "$DMBT_TMP/m.run"
done
info "$nmarks cuts, each continued to an exact backup"
