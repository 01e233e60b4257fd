#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dmbackup export: the point-in-time image served read-only over NBD by
# nbd-server, read by nbd-client on the VM's loopback interface.
#   pull (--mode none): export serves a view of the job; /dev/nbd1, read in
#   full while the volume is rewritten, equals T0; a write through the
#   client fails; finish (also --force) is refused while the export is
#   live and the job goes on; status shows the export; a second export is
#   refused; export --stop ends the server, removes the view and the state;
#   then finish gives the volume its table back with the writes intact.
#   completed job (--mode full): export is refused while the job runs (the
#   backup device is not complete), serves the backup device (T0) once it
#   completed (--listen, --name; no client: each server takes long to
#   serve under TCG), and finish waits for --stop there too.
#   Refusals: no job, a port in use (the other export's), a bad name;
#   failures injected into each step of export are rolled back (no view,
#   no state, no server left).
# Oracles: T0 images (nothing writes the volumes between the image and
# start), the writes mirrored into an expected image (bkp-io), md5sums of
# what the clients read; the volume's table; nbd-server's pid.
# tier: user
# timeout: 180
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/nbd.sh"

export_client_ready
RUN=/run/dmbackup
trap 'nbd-client -d /dev/nbd1 >/dev/null 2>&1
	for p in $RUN/export-*.pid; do [ -e "$p" ] && kill "$(cat "$p")"; done' EXIT

# server_gone <pid>: the process ended (gone, or a zombie init has not
# reaped yet: nbd-server daemonizes, so init is its parent).
server_gone() {
	[ ! -e "/proc/$1/stat" ] && return 0
	case $(cat "/proc/$1/stat" 2>/dev/null) in
	*") Z "*|"") return 0 ;;
	esac
	return 1
}

# no_nbd_server: no nbd-server process runs (zombies aside).
no_nbd_server() {
	for _nn_p in $(pidof nbd-server); do
		server_gone "$_nn_p" || return 1
	done
}

# no_export_state <volume>: no state and no view of an export of it.
no_export_state() {
	[ ! -e "$RUN/export-$1.conf" ] || fail "$RUN/export-$1.conf is left"
	[ ! -e "$RUN/export-$1.pid" ] || fail "$RUN/export-$1.pid is left"
	! dmsetup info "$1-dmbackup-export" >/dev/null 2>&1 || fail "the view of $1 is left"
}

# no_export <volume>: that, and no nbd-server runs at all.
no_export() {
	no_export_state "$1"
	wait_until 5 'an nbd-server runs: $(pidof nbd-server)' no_nbd_server
}

# connect <export> <port> <nbd>: nbd-client connects the device.
connect() {
	run nbd-client -N "$1" 127.0.0.1 "$2" "/dev/$3"
	[ -e "/sys/block/$3/pid" ] || fail "/dev/$3 is not connected"
}

# md5 <file or device>: its md5sum.
md5() {
	md5sum <"$1" | cut -d' ' -f1
}

# Each nbd-server spends 10 to 30 s under TCG on its TLS parameters before
# it serves a client: only the first export gets one, and the second one
# starts once the first serves (not to slow it down).
o=$(mkloop 8) || exit 1
b=$(mkloop 8) || exit 1
o2=$(mkloop 4) || exit 1
b2=$(mkloop 4) || exit 1
n=$(sectors "$o")
fill_random "$o" 971
fill_random "$b" 972
fill_random "$o2" 981
fill_random "$b2" 982
mkvol vol "$o"
mkvol vol2 "$o2"
table0=$(table_of vol)
table2=$(table_of vol2)

info "export refuses a volume without a job, and changes nothing"
expect_refusal "no backup job runs on this volume" dmbackup export vol
no_export vol
vol_untouched vol "$table0"

info "a --mode full job: export refused while it runs"
save_image /dev/mapper/vol2 "$DMBT_TMP/t0-2"
run dmbackup start vol2 "$b2" --speed 256K
expect_refusal "the backup device is not complete yet" dmbackup export vol2
no_export vol2
run dmbackup speed vol2 0
run dmbackup wait vol2 --interval 0

info "export of a --mode none job: the view, served by nbd-server"
save_image /dev/mapper/vol "$DMBT_TMP/t0"
cp "$DMBT_TMP/t0" "$DMBT_TMP/expect"
run dmbackup start vol "$b" --mode none
tbk=$(table_of vol)
# A failure injected into each step of export is rolled back.
for step in export-view export-conf export-serve export-serve-after; do
	info "DMBACKUP_FAIL_AT=$step"
	expect_injected $step export vol
	no_export vol
done
dmbackup export vol >"$DMBT_TMP/export.out" 2>&1 ||
	{ cat "$DMBT_TMP/export.out"; fail "dmbackup export vol failed"; }
cat "$DMBT_TMP/export.out"
grep -q "URI: nbd://127.0.0.1:10809/vol\$" "$DMBT_TMP/export.out" || fail "no URI printed"
grep -q "nbd-client -N vol 127.0.0.1 10809 " "$DMBT_TMP/export.out" ||
	fail "no nbd-client command printed"
pid=$(cat "$RUN/export-vol.pid") || fail "no pid file"
[ "$(cat /proc/"$pid"/comm)" = nbd-server ] || fail "pid $pid is not nbd-server"
grep -q "readonly = true" "$RUN/export-vol.conf" ||
	fail "not read-only: $(cat "$RUN/export-vol.conf")"
jobdevs=$(table_of vol | awk '{ print $4 " " $5 }')
[ "$(table_of vol-dmbackup-export)" = "0 $n backup-view $jobdevs" ] ||
	fail "the export's view: $(table_of vol-dmbackup-export)"
expect_refusal "vol is exported already" dmbackup export vol --listen 127.0.0.1:10811
expect_refusal "exported already" dmbackup export /dev/mapper/vol --name other
dmbackup status --interval 0 vol |
	grep -q "export: nbd://127.0.0.1:10809/vol (nbd-server pid $pid" ||
	fail "status does not show the export: $(dmbackup status vol --interval 0)"

connect vol 10809 nbd1
[ "$(sectors /dev/nbd1)" -eq "$n" ] || fail "/dev/nbd1 has $(sectors /dev/nbd1) sectors, want $n"
[ "$(blockdev --getro /dev/nbd1)" = 1 ] || fail "/dev/nbd1 is not read-only"

info "the client reads the image while the volume is rewritten"
# A first round of writes lands before the read (the live volume is no
# longer T0), the others while it runs.
run bkp-io write /dev/mapper/vol "$DMBT_TMP/expect" 973 32 2 4096 65536 50 0 0
(
	for k in 1 2 3 4 5 6; do
		bkp-io write /dev/mapper/vol "$DMBT_TMP/expect" $((973 + k)) \
			16 2 512 16384 50 0 0 || exit 1
		sleep 0.2
	done
) &
io=$!
dd if=/dev/nbd1 of="$DMBT_TMP/pulled" bs=1M iflag=direct status=none ||
	fail "reading /dev/nbd1 failed"
wait "$io" || fail "the writes to the volume failed"
[ "$(md5 "$DMBT_TMP/pulled")" = "$(md5 "$DMBT_TMP/t0")" ] ||
	{ same "$DMBT_TMP/pulled" "$DMBT_TMP/t0"; fail "md5 differs"; }
[ "$(md5 /dev/mapper/vol)" != "$(md5 "$DMBT_TMP/t0")" ] ||
	fail "the volume still equals T0: the writes did not change it"
[ "$(bk_cbw vol)" -gt 0 ] || fail "the writes did not meet the job (no copy-before-write)"
info "md5 of what the client read = md5 of T0 ($(md5 "$DMBT_TMP/t0"))"

info "a write through the client fails"
! dd if=/dev/zero of=/dev/nbd1 bs=4k count=1 oflag=direct status=none 2>/dev/null ||
	fail "a write to /dev/nbd1 succeeded"
# The server refuses it too, not only the client's read-only flag.
run blockdev --setrw /dev/nbd1
! dd if=/dev/zero of=/dev/nbd1 bs=4k count=1 oflag=direct status=none 2>/dev/null ||
	fail "nbd-server took a write"
dd if=/dev/nbd1 of="$DMBT_TMP/again" bs=1M iflag=direct status=none ||
	fail "reading /dev/nbd1 again failed"
same "$DMBT_TMP/again" "$DMBT_TMP/t0"

info "finish refuses while the export is live; the job goes on"
expect_refusal "exported over NBD (nbd://127.0.0.1:10809/vol.*export --stop vol" \
	dmbackup finish vol
expect_refusal "exported over NBD" dmbackup finish --force vol
[ "$(table_of vol)" = "$tbk" ] || fail "vol's table changed: $(table_of vol)"
[ "$(backup_state vol)" = running ] || fail "job: $(backup_status vol)"
[ -e /sys/block/nbd1/pid ] || fail "the client lost its connection"
! server_gone "$pid" || fail "nbd-server is gone"

info "the completed job's backup device, exported beside it"
expect_refusal "something listens on 127.0.0.1:10809" dmbackup export vol2
no_export_state vol2
dmbackup export vol2 --name "a]b" 2>&1 | grep -q "not an export name" ||
	fail "export --name a]b was not refused"
run dmbackup export vol2 --listen 127.0.0.1:10810 --name full
! dmsetup info vol2-dmbackup-export >/dev/null 2>&1 || fail "a view for a completed job"
# What it serves is the backup device, which holds T0.
served=$(sed -n 's/^[[:space:]]*exportname = //p' "$RUN/export-vol2.conf")
[ "$(stat -L -c %t:%T "$served")" = "$(stat -L -c %t:%T "$b2")" ] ||
	fail "vol2's export serves $served, not the backup device $b2"
grep -q "readonly = true" "$RUN/export-vol2.conf" || fail "vol2's export is not read-only"
[ "$(md5 "$served")" = "$(md5 "$DMBT_TMP/t0-2")" ] || fail "the backup device is not T0"
grep -q ':2A3A 00000000:0000 0A' /proc/net/tcp || fail "nothing listens on 10810"

info "the completed job's export: finish waits for --stop"
expect_refusal "exported over NBD" dmbackup finish vol2
run dmbackup export --stop /dev/mapper/vol2
no_export_state vol2
run dmbackup finish vol2
vol_untouched vol2 "$table2" "$DMBT_TMP/t0-2"
same "$b2" "$DMBT_TMP/t0-2"
run dmsetup remove vol2

info "export --stop; finish restores the volume with the writes"
run nbd-client -d /dev/nbd1
run dmbackup export --stop vol
wait_until 10 "nbd-server $pid still runs" server_gone "$pid"
no_export vol
expect_refusal "no export of this volume" dmbackup export --stop vol
run dmbackup cancel vol
run dmbackup finish vol
vol_untouched vol "$table0" "$DMBT_TMP/expect"
run dmsetup remove vol
