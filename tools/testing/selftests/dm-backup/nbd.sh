# SPDX-License-Identifier: GPL-2.0-only
# NBD helpers for the selftests: a file served by nbd-server on the VM's
# loopback interface, connected as /dev/nbd0.  Source after lib.sh:
#     . "$DMBT_DIR/lib.sh"; . "$DMBT_DIR/nbd.sh"

# lo_up: bring up the loopback interface with 127.0.0.1 (the VM has no
# network card).
lo_up() {
	ip link set lo up || fail "cannot bring up lo"
	ip addr show lo | grep -q 'inet 127.0.0.1' ||
		ip addr add 127.0.0.1/8 dev lo || fail "cannot give lo 127.0.0.1"
}

# export_client_ready: for dmbackup export's tests and recipes, which
# leave /dev/nbd0 to nbd.sh's helpers and connect /dev/nbd1: nbd-server and
# nbd-client are in the initramfs, the nbd module is loaded, /dev/nbd1
# exists and is not connected, lo is up.
export_client_ready() {
	command -v nbd-server >/dev/null || fail "nbd-server is not in the initramfs"
	command -v nbd-client >/dev/null || fail "nbd-client is not in the initramfs"
	grep -q '^nbd ' /proc/modules || load_mod nbd nbds_max=4
	[ -b /dev/nbd1 ] || fail "/dev/nbd1 does not exist (nbds_max:" \
		"$(cat /sys/module/nbd/parameters/nbds_max))"
	[ ! -e /sys/block/nbd1/pid ] || fail "/dev/nbd1 is already connected"
	lo_up
}

# nbd_ready: nbd-server and nbd-client are in the initramfs, the nbd module
# is loaded, /dev/nbd0 exists and is not connected, lo is up.
nbd_ready() {
	command -v nbd-server >/dev/null || fail "nbd-server is not in the initramfs"
	command -v nbd-client >/dev/null || fail "nbd-client is not in the initramfs"
	grep -q '^nbd ' /proc/modules || load_mod nbd
	[ -b /dev/nbd0 ] || fail "/dev/nbd0 does not exist (nbd module loaded?)"
	[ -e /sys/block/nbd0/pid ] && fail "/dev/nbd0 is already connected"
	lo_up
}

# nbd_connected: nbd-client connected /dev/nbd0 to the export "dmbt"
# (its output in $DMBT_TMP/nbd-client.log); fails the test if the server
# died meanwhile.
nbd_connected() {
	nbd-client -N dmbt 127.0.0.1 10809 /dev/nbd0 >"$DMBT_TMP/nbd-client.log" 2>&1 &&
		return 0
	kill -0 "$NBD_PID" 2>/dev/null ||
		fail "nbd-server died: $(cat "$DMBT_TMP/nbd-server.log")"
	return 1
}

# nbd_serve <file>: serve the file as the export "dmbt" on 127.0.0.1:10809
# and connect /dev/nbd0 to it (within 10 s: the server needs a moment to
# listen).  The server's pid goes to $NBD_PID; it runs with -d, in the
# foreground in the test's session, so the runner kills it even if the test
# dies before its trap runs.
nbd_serve() {
	cat >"$DMBT_TMP/nbd.conf" <<EOC
[generic]
	listenaddr = 127.0.0.1
	port = 10809
[dmbt]
	exportname = $1
	flush = true
EOC
	nbd-server -C "$DMBT_TMP/nbd.conf" -d >"$DMBT_TMP/nbd-server.log" 2>&1 &
	NBD_PID=$!
	wait_until 10 'nbd-client cannot connect: $(cat "$DMBT_TMP/nbd-client.log")' nbd_connected
}

# nbd_stop: end the server (also a stopped one), if it runs.
nbd_stop() {
	[ -n "${NBD_PID:-}" ] && kill -CONT "$NBD_PID" 2>/dev/null
	[ -n "${NBD_PID:-}" ] && kill "$NBD_PID" 2>/dev/null
}

# nbd_disconnect: disconnect /dev/nbd0 if it is connected.
nbd_disconnect() {
	[ -e /sys/block/nbd0/pid ] && nbd-client -d /dev/nbd0 >/dev/null 2>&1
}
