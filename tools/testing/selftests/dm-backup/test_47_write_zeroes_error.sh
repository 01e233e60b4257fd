#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A backup device that advertises WRITE_ZEROES and then fails it gets the
# zero chunks written as data, as blkdev_issue_zeroout() does, instead of
# failing the copy: with BLK_STS_NOTSUPP as before, and now with any other
# error too.  Both made with scsi_debug (sd turns a zero run into WRITE
# SAME), plain writes succeed throughout:
#   notsupp  scsi_debug reports a maximum WRITE SAME length of 0xffff blocks
#            when sd probes it; lowering its write_same_length parameter
#            afterwards makes each WRITE SAME of a chunk fail with ILLEGAL
#            REQUEST, which sd reports as "not supported" and then stops
#            advertising WRITE_ZEROES;
#   eio      scsi_debug's per-command error injection (debugfs, kernels
#            from 6.7: the 6.12 test kernel, not 6.1) fails every WRITE
#            SAME with HARDWARE ERROR, an I/O error (-EREMOTEIO), sd keeps
#            advertising WRITE_ZEROES.
# Oracles: the job completes without target errors, the backup equals T0
# (the zero chunks hold zeroes), and the refusals happened (sd stopped
# advertising WRITE_ZEROES; the kernel logged failed WRITE_ZEROES).
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

find /lib/modules/"$(uname -r)" -name 'scsi_debug.ko*' | grep -q . ||
	skip "$(uname -r) has no scsi_debug module"

CH=65536
o=$(mkloop 16) || exit 1			# 256 chunks
bkp-io fill "$o" 47 3 $CH || fail "fill failed"	# every 3rd chunk all zero
save_image "$o" "$DMBT_TMP/t0"

# sdebug_found: scsi_debug's disk is there (sets $sd and $hctl).
sdebug_found() {
	for d in /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/*; do
		[ -e "$d" ] && sd=/dev/${d##*/} && hctl=${d%/block/*} && hctl=${hctl##*/}
	done
	[ -n "$sd" ] && [ -b "$sd" ]
}

# sdebug_disk: load scsi_debug with one 16 MiB disk; sets $sd (/dev/sdX),
# $hctl and $wz (its write_zeroes_max_bytes file).
sdebug_disk() {
	grep -q '^scsi_debug ' /proc/modules &&
		{ rmmod scsi_debug || fail "rmmod scsi_debug failed"; }
	load_mod scsi_debug dev_size_mb=16 sector_size=512 max_luns=1 num_tgts=1
	sd=
	wait_until 10 'no scsi_debug disk appeared' sdebug_found
	wz=/sys/block/${sd#/dev/}/queue/write_zeroes_max_bytes
	info "scsi_debug disk $sd ($hctl), write_zeroes_max_bytes $(cat "$wz")"
	[ "$(cat "$wz")" -ge $CH ] || fail "$sd does not advertise WRITE_ZEROES of a chunk"
	fill_random "$sd" 48
}

# backup_to_sd: a full job onto $sd must complete with the backup = T0.
backup_to_sd() {
	bk_create bk "$o" "$sd" full
	wait_state bk completed 120
	info "status: $(backup_status bk)"
	[ "$(backup_status bk target_errors)" = 0 ] || fail "target errors: $(backup_status bk)"
	run dmsetup remove bk
	same "$sd" "$DMBT_TMP/t0"
}

info "notsupp: WRITE SAME refused with ILLEGAL REQUEST"
sdebug_disk
echo 1 >/sys/module/scsi_debug/parameters/write_same_length ||
	fail "cannot lower scsi_debug's write_same_length"
backup_to_sd
[ "$(cat "$wz")" = 0 ] || fail "sd still advertises WRITE_ZEROES: no WRITE SAME was refused?"

info "eio: WRITE SAME fails with an I/O error"
sdebug_disk
inj=/sys/kernel/debug/scsi_debug/$hctl/error
if [ ! -e "$inj" ]; then
	info "no $inj: scsi_debug of $(uname -r) has no per-command error injection (6.7+)," \
	     "eio case not run"
	exit 0
fi
# type 2 (fail the command), 1000 times, WRITE SAME(16) and (10): host and
# driver byte 0, status CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET
# FAILURE.
echo "2 1000 0x93 0x0 0x0 0x2 0x4 0x44 0x0" >"$inj" || fail "cannot inject into $inj"
echo "2 1000 0x41 0x0 0x0 0x2 0x4 0x44 0x0" >"$inj" || fail "cannot inject into $inj"
kmsg "eio case: WRITE SAME fails from now on"
backup_to_sd
# The block layer logs each failed request: "critical target error, dev
# sdX, sector N op 0x9:(WRITE_ZEROES)".
nr=$(dmesg | sed -n '/dmbt: eio case/,$p' | grep -c "error, dev ${sd#/dev/}, .*(WRITE_ZEROES)")
info "WRITE_ZEROES requests failed: $nr"
[ "$nr" -gt 0 ] || fail "no WRITE_ZEROES failed: the injection did not work"
[ "$(cat "$wz")" -ge $CH ] || fail "sd stopped advertising WRITE_ZEROES: not an I/O error path"
