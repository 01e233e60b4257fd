# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the tests on real LVM logical volumes (test_68, test_69);
# source after lib.sh and dmbackup.sh.  lvm2 runs without udev, dmeventd
# and lvmpolld there (tests/lvm.conf), on loop devices.

command -v lvm >/dev/null || skip "lvm (lvm2) is not installed"
# Tests run with the runner's descriptors open: don't let lvm list them.
export LVM_SUPPRESS_FD_WARNINGS=1

# mklv <vg> <lv> <pv_disk> <size_MiB>: a PV on pv_disk, a VG on it and a
# linear LV of size_MiB, active; /dev/<vg>/<lv> and /dev/mapper/<vg>-<lv>
# exist afterwards.
mklv() {
	run lvm pvcreate -q -y "$3"
	run lvm vgcreate -q "$1" "$3"
	run lvm lvcreate -q -y -n "$2" -L "$4M" "$1"
	[ -b "/dev/$1/$2" ] || fail "/dev/$1/$2 did not appear"
	[ -b "/dev/mapper/$1-$2" ] || fail "/dev/mapper/$1-$2 did not appear"
	# The runner's cleanup removes dm devices and loop devices; lvm itself
	# keeps no state in the VM (no metadata backups, no cache).
	LVM_VG=$1
}

# lv_attr <vg> <lv>: the LV's attribute string as lvs reports it (stderr,
# where lvm puts its warnings, goes to $DMBT_TMP/lvs.err).
lv_attr() {
	lvm lvs --noheadings -o lv_attr "$1/$2" 2>"$DMBT_TMP/lvs.err" | tr -d ' '
}

# lv_healthy <vg> <lv>: lvs sees the LV active (open or not), with the
# table its metadata describes (attr -wi-a----- or -wi-ao----; with a
# foreign table it says -wi-XX--X-) and has no warning about it.
lv_healthy() {
	_lh_attr=$(lv_attr "$1" "$2") || fail "lvs $1/$2 failed: $(cat "$DMBT_TMP/lvs.err")"
	case $_lh_attr in
	-wi-a-----|-wi-ao----) ;;
	*) fail "lvs $1/$2: attr '$_lh_attr', want -wi-a[-o]---- ($(cat "$DMBT_TMP/lvs.err"))" ;;
	esac
	! grep -q WARNING "$DMBT_TMP/lvs.err" ||
		fail "lvs $1/$2 warns: $(cat "$DMBT_TMP/lvs.err")"
}
