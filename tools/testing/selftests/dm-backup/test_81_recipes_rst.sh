#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The recipes of dm-backup.rst that use one volume run as written
# (recipes.sh): live-by-hand (the backup table loaded by hand under the
# name of the mounted volume vol, over /dev/sdb, while an application
# writes files), controlled (the file system on /dev/sdb remounted through
# bk; the backup disk /dev/sdc fails after the pause and is repaired before
# the second resume; the application rests during the outage; dmbackup
# status then says that the errors were recovered).  The pull-style
# recipes: test_86.
# Oracle: the image at the point in time (/dev/sdb read while vol is
# suspended for the load, or before `dmsetup create`), which /dev/sdc must
# equal.
# tier: user
# timeout: 300
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"

disk=$(mkloop 64) || exit 1
bdisk=$(mkloop 64) || exit 1
recipe_node /dev/sdb "$disk"
# /dev/sdc is a dm device over bdisk, so that it can fail and be repaired.
run dmsetup create sdcdisk --table "0 $(sectors "$bdisk") linear $bdisk 0"
recipe_node /dev/sdc /dev/mapper/sdcdisk
trap 'umount -l /mnt/data 2>/dev/null' EXIT
mkdir -p /mnt/data

info "live-by-hand: the backup table under the name of the mounted vol"
fill_random /dev/sdc 811
run dmsetup create vol --table "0 $(sectors /dev/sdb) linear /dev/sdb 0"
recipe_mkfs /dev/mapper/vol
run mount -t ext4 /dev/mapper/vol /mnt/data
table0=$(table_of vol)
# The first suspend of vol flushes it: /dev/sdb then holds the point in time.
dmsetup() {
	command dmsetup "$@" || return
	if [ "$1 $2" = "suspend vol" ] && [ ! -e "$DMBT_TMP/t0" ]; then
		direct_image /dev/sdb "$DMBT_TMP/t0"
	fi
}
app_start
recipe_run rst live-by-hand
app_stop
unset -f dmsetup
same /dev/sdc "$DMBT_TMP/t0"
[ "$(table_of vol)" = "$table0" ] || fail "vol did not get its table back: $(table_of vol)"
run umount /mnt/data
run dmsetup remove vol
run e2fsck -fn /dev/sdb

info "controlled: paused, an outage of /dev/sdc, repaired, resumed"
fill_random /dev/sdc 812
rm -f "$DMBT_TMP/t0"
# Data in every chunk (no zero chunks), so that the walk at 16 MiB/s lasts
# 4 s and the pause meets it running.
fill_random /dev/sdb 813
recipe_mkfs /dev/sdb
run mount -t ext4 /dev/sdb /mnt/data
nresume=0
dmsetup() {
	case "$1 $2 $3 $4 $5" in
	"create bk "*)
		direct_image /dev/sdb "$DMBT_TMP/t0"
		;;
	"message bk 0 pause ")
		command dmsetup "$@" || return
		info "the backup disk fails (the application rests meanwhile)"
		app_stop
		sync
		command dmsetup load sdcdisk --table "0 $(sectors "$bdisk") error" &&
			command dmsetup resume sdcdisk || fail "cannot break /dev/sdc"
		return 0
		;;
	"message bk 0 resume ")
		nresume=$((nresume + 1))
		if [ $nresume = 1 ]; then
			command dmsetup "$@" || return
			wait_state bk paused 60
			info "$(command dmsetup status bk)"
			return 0
		fi
		info "the backup disk is repaired"
		command dmsetup load sdcdisk --table "0 $(sectors "$bdisk") linear $bdisk 0" &&
			command dmsetup resume sdcdisk || fail "cannot repair /dev/sdc"
		app_start
		;;
	"remove bk   ")
		dmbackup status bk >"$DMBT_TMP/status" 2>&1
		cat "$DMBT_TMP/status"
		re="^bk: full completed .*(source 0, target [1-9][0-9]*, skipped 0,"
		re="$re last -5 at chunk [0-9]*) job [0-9a-f-]* volatile"
		re="$re - errors recovered, the backup is complete$"
		grep -q "$re" \
			"$DMBT_TMP/status" ||
				fail "dmbackup status does not say that the backup is complete"
		;;
	esac
	command dmsetup "$@"
}
app_on_bk_mount
app_start
recipe_run rst controlled
unset -f dmsetup mount umount
same /dev/sdc "$DMBT_TMP/t0"
run umount /mnt/data
run e2fsck -fn /dev/sdb
