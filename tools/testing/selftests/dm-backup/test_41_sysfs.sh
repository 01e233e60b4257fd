#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# /sys/block/dm-N/backup/: every file with its mode and value, bad writes
# refused with EINVAL and nothing changed, two devices independent, a
# reload hands the directory to the new table, a table without backup or a
# removal takes it away.
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 16) || exit 1
b=$(mkloop 16) || exit 1
o2=$(mkloop 16) || exit 1
b2=$(mkloop 16) || exit 1
dir() { echo "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")/backup"; }

bk_create bk "$o" "$b" full 2 speed 65536
d=$(dir bk)
for f in speed:644 state:444 progress:444 sync_mode:444 uuid:444 persistent:444; do
	[ -f "$d/${f%:*}" ] || fail "$d/${f%:*} missing"
	m=$(stat -c %a "$d/${f%:*}")
	[ "$m" = "${f#*:}" ] || fail "$d/${f%:*} has mode $m, want ${f#*:}"
done
[ "$(cat "$d/state")" = running ] || fail "state: $(cat "$d/state")"
[ "$(cat "$d/sync_mode")" = full ] || fail "sync_mode: $(cat "$d/sync_mode")"
[ "$(cat "$d/speed")" = 65536 ] || fail "speed: $(cat "$d/speed")"
[ "$(cat "$d/uuid")" = "$(backup_status bk job_uuid)" ] ||
	fail "uuid: $(cat "$d/uuid"), status says $(backup_status bk job_uuid)"
[ "$(cat "$d/persistent")" = 0 ] || fail "persistent: $(cat "$d/persistent")"
p=$(cat "$d/progress")
[ "${p#*/}" = 256 ] || fail "progress $p: total is not 256"
echo x >"$d/state" 2>/dev/null && fail "state is writable"

info "bad writes are refused and change nothing"
for bad in abc -1 "" 18446744073709551616 5X 17179869184G 1T " 5" "5 5" 0x10; do
	if echo "$bad" >"$d/speed" 2>/dev/null; then
		fail "speed accepted '$bad'"
	fi
	[ "$(cat "$d/speed")" = 65536 ] || fail "'$bad' changed speed to $(cat "$d/speed")"
done
info "good writes"
for good in 1K:1024 2M:2097152 1G:1073741824 3k:3072 123:123 0:0 16777215G:18014397435740160; do
	echo "${good%:*}" >"$d/speed" || fail "speed refused '${good%:*}'"
	[ "$(cat "$d/speed")" = "${good#*:}" ] || fail "'${good%:*}' gave $(cat "$d/speed")"
done
echo 65536 >"$d/speed"

info "two devices are independent"
bk_create bk2 "$o2" "$b2" full 2 speed 131072
d2=$(dir bk2)
[ "$d2" != "$d" ] || fail "same directory for two devices"
echo 4K >"$d2/speed"
[ "$(cat "$d/speed")" = 65536 ] || fail "bk2's write changed bk"
[ "$(cat "$d2/speed")" = 4096 ] || fail "bk2 speed $(cat "$d2/speed")"
run dmsetup message bk2 0 cancel
[ "$(cat "$d2/state")" = cancelled ] || fail "bk2 state $(cat "$d2/state")"
[ "$(cat "$d/state")" != cancelled ] || fail "bk2's cancel reached bk"

info "a loaded but cleared table changes nothing"
run dmsetup load bk --table "$(bk_table "$o" "$b" full 2 speed 999)"
run dmsetup clear bk
[ "$(cat "$d/speed")" = 65536 ] || fail "cleared table changed speed"

info "a reload hands the directory to the new table"
run dmsetup load bk --table "$(bk_table "$o" "$b" full 2 speed 12345)"
run dmsetup suspend bk
run dmsetup resume bk
[ -d "$d" ] || fail "directory gone after reload"
[ "$(cat "$d/speed")" = 12345 ] || fail "speed after reload: $(cat "$d/speed")"
echo 777 >"$d/speed" || fail "write after reload failed"
dmsetup table bk | grep -q "speed 777" || fail "sysfs does not reach the new table"

info "a table without backup takes the directory away"
run dmsetup load bk --table "0 $(sectors "$o") linear $o 0"
run dmsetup suspend bk
run dmsetup resume bk
[ -e "$d" ] && fail "$d still there under a linear table"
run dmsetup load bk --table "$(bk_table "$o" "$b" full)"
run dmsetup suspend bk
run dmsetup resume bk
[ "$(cat "$d/state")" = running ] || [ "$(cat "$d/state")" = completed ] ||
	fail "directory not back with a backup table"

info "removal takes it away"
run dmsetup remove bk
[ -e "$d" ] && fail "$d still there after remove"
run dmsetup remove bk2
[ -e "$d2" ] && fail "$d2 still there after remove"
true
