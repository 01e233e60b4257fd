#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Concurrency stress: 8 writers (random 512 B..256 KiB writes at any 512-byte
# offset, buffered and O_DIRECT, discards, write-zeroes) on the dm-backup
# device during a throttled walk, while a loop underneath suspends and
# resumes the device and changes the speed through the message and sysfs.
# (No table reload: a reload starts a new job until handover exists.)
# Oracles: backup == T0 image, origin == dm device == expected image.
# timeout: 300
# slice: rt
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

size=96
o=$(mkloop $size) || exit 1
b=$(mkloop $size) || exit 1
fill_random "$o" 71
fill_random "$b" 72
save_image "$o" "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"

bk_create bk "$o" "$b" full 2 speed 1048576
sysdir=/sys/block/$(dmsetup info -c --noheadings -o blkdevname bk)/backup
[ -w "$sysdir/speed" ] || fail "no $sysdir/speed"

# The churn: 8 rounds of suspend/resume plus a speed change (message or
# sysfs); the writers keep going in batches until it is done, so the two
# always overlap, however fast the host.
(
	i=0
	while [ $i -lt 8 ]; do
		i=$((i + 1))
		dmsetup suspend bk || echo "churn: suspend failed" >>"$DMBT_TMP/churn.err"
		sleep 0.1
		dmsetup resume bk || echo "churn: resume failed" >>"$DMBT_TMP/churn.err"
		case $((i % 3)) in
		0) dmsetup message bk 0 speed 1048576 ||
			echo "churn: message failed" >>"$DMBT_TMP/churn.err" ;;
		1) echo 3M >"$sysdir/speed" ||
			echo "churn: sysfs write failed" >>"$DMBT_TMP/churn.err" ;;
		2) dmsetup message bk 0 speed 524288 ||
			echo "churn: message failed" >>"$DMBT_TMP/churn.err" ;;
		esac
		sleep 0.3
	done
) &
churn=$!

# Writes stay in the first 64 MiB: the walk still has the rest to copy.
info "8 writers against the walk and the churn"
batch=0
while :; do
	batch=$((batch + 1))
	if ! bkp-io write /dev/mapper/bk "$DMBT_TMP/expect" $((710 + batch)) 1000 8 \
		512 131072 50 5 5 0 $((64 * 1048576)); then
		dmesg | sed -n "/dmbt: start [0-9]* $DMBT_TEST\$/,\$p" |
			grep -v "WRITE_ZEROES" | grep -iE "error|backup|fail" | tail -n 20
		fail "bkp-io batch $batch failed; status: $(backup_status bk)"
	fi
	kill -0 $churn 2>/dev/null || break
	[ $batch -lt 30 ] || fail "the churn did not finish"
done
wait $churn
[ -s "$DMBT_TMP/churn.err" ] && fail "$(cat "$DMBT_TMP/churn.err")"
info "$batch batches of writes; status: $(backup_status bk)"
[ "$(backup_state bk)" = running ] ||
	info "note: the walk ended ($(backup_state bk)) with the writes"
[ "$(bk_cbw bk)" -gt 0 ] || fail "no copy-before-write happened"
# The churn must not have left the device suspended.
dmsetup info bk | grep -q ACTIVE || fail "bk not active: $(dmsetup info bk)"

run dmsetup message bk 0 speed 0
wait_state bk completed 240
[ "$(bk_copied bk)" -eq "$(bk_total bk)" ] || fail "completed at $(backup_status bk)"
same "$b" "$DMBT_TMP/t0"
same /dev/mapper/bk "$DMBT_TMP/expect"
same "$o" "$DMBT_TMP/expect"
run dmsetup remove bk
