#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The pull-over-NBD recipe of README (pull-nbd) runs as written
# (recipes.sh): `dmbackup export` serves the image of a --mode none job on
# the mounted /dev/vg/lv, and the "backup host" (the same VM: volhost is
# 127.0.0.1 in /etc/hosts) reads it with nbd-client as /dev/nbd1 and
# dd | gzip while an application writes files to the volume; then export
# --stop, cancel, finish.  dmbackup(8)'s export recipe: test_98 (each
# takes half a minute under TCG).
# Oracle: the image at the point in time (the file system frozen around
# `dmbackup start`), which the gunzipped archive must equal; the archive is
# a clean file system, the files written are intact on the volume, and no
# export is left.
# tier: user
# timeout: 120
. "${DMBT_DIR:-$(dirname "$0")}/lib.sh"
. "$DMBT_DIR/backup.sh"
. "$DMBT_DIR/dmbackup.sh"
. "$DMBT_DIR/recipes.sh"
. "$DMBT_DIR/nbd.sh"

export_recipe_setup
# one <doc> <recipe> <lv>: the recipe (recipes.sh, export_recipe).
one() {
	export_recipe "$@"
}

one README pull-nbd lv
unset -f dmbackup dd
