#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Constructor error paths that fail after the devices were opened: a second
# device naming a backup device another job writes, and reloads that change
# what a running job cannot change (chunk_size, length).  Each is either
# refused cleanly or accepted as a new job, never a crash (this minimal case
# once hit "kernel BUG at lib/list_debug.c" in backup_unregister_job: the
# registry unlinked an instance it had never linked).  Afterwards everything
# is removed and dm-backup unloads.
# timeout: 120
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"

o=$(mkloop 8) || exit 1
o2=$(mkloop 8) || exit 1
b=$(mkloop 8) || exit 1
b2=$(mkloop 8) || exit 1
n=$(sectors "$o")

bk_create bk1 "$o" "$b" full 2 speed 65536
info "a second job writing the same backup device"
if dmsetup create bk2 --table "0 $n backup $o2 $b full"; then
	info "accepted (no registry of backup devices)"
	run dmsetup remove bk2
else
	info "refused: $(dmesg | tail -n 1)"
	dmsetup info bk2 >/dev/null 2>&1 && run dmsetup remove bk2
fi

info "reloads the running job cannot take"
for t in "0 $n backup $o $b full 2 chunk_size 256" \
	 "0 $((n / 2)) backup $o $b full" \
	 "0 $n backup $o2 $b2 full"; do
	if dmsetup load bk1 --table "$t"; then
		info "load accepted: $t"
		run dmsetup clear bk1
	else
		info "load refused: $t: $(dmesg | tail -n 1)"
	fi
done
[ "$(backup_state bk1)" = running ] || fail "bk1 state $(backup_state bk1)"
run dmsetup remove bk1
run rmmod dm-backup
run modprobe dm-backup
