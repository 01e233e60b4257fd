// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup - run dm-backup jobs on live device-mapper volumes.
 *
 *   dmbackup start <volume> <backup_device> [<volume> <backup_device>...]
 *                  [options]                           (cmd_start.c)
 *   dmbackup status [<volume>...]                      (cmd_status.c)
 *   dmbackup wait <volume>...                          (cmd_status.c)
 *   dmbackup speed <volume> RATE | pause | resume | cancel <volume>...
 *                                                      (cmd_message.c)
 *   dmbackup finish <volume>...                        (cmd_finish.c)
 *   dmbackup view <volume> <name> | view --remove <name>  (cmd_view.c)
 *   dmbackup export <volume> [--listen A:P] [--name N] | export --stop <volume>
 *                                                      (cmd_export.c)
 *   dmbackup map --chunk-sectors N --sectors LEN -o MAP SOURCE  (map.c)
 *   dmbackup start --incremental <volume> [<backup>]   (cmd_incremental.c)
 *   dmbackup info <meta_device>                        (cmd_info.c)
 *   dmbackup reinstate                                 (cmd_reinstate.c)
 *
 * A job is stacked over a live volume the way LVM stacks a snapshot: the
 * volume's current table moves to a hidden device "<name>-dmbackup-origin",
 * and a "backup" table over the hidden device is switched in under the
 * volume's own name in one suspend/resume.  `finish` does the reverse.
 * Everything goes through libdevmapper (dm.c); see dmbackup.8 and
 * Documentation/admin-guide/device-mapper/dm-backup.rst.  dmbackup.h says
 * which file does what.
 *
 * Every failure leaves the volume as it was: each step of start, finish and
 * view has a rollback, and DMBACKUP_FAIL_AT=<step> makes a step fail on
 * purpose (for the selftests; see fail_at()).
 */
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: dmbackup <command> [args]   (dmbackup <command> --help for details)\n"
"\n"
"  start <volume> <backup_device> [options]  start a backup of a live volume\n"
"  start --incremental <volume> [<backup>]   the next backup of a tracking job\n"
"  start <v1> <bk1> <v2> <bk2>... [options]  a group: one point in time\n"
"  status [<volume>...]                      show the backup jobs\n"
"  wait <volume>...                          wait for the jobs to end\n"
"  speed <volume> RATE                       change the rate limit\n"
"  pause <volume>... | resume <volume>...    pause / resume the background copy\n"
"  cancel <volume>...                        cancel the jobs\n"
"  finish <volume>...                        restore the volumes' own tables\n"
"  view <volume> <name> | view --remove <name>\n"
"                                            a read-only device of the image\n"
"  export <volume> [--listen ADDR:PORT] [--name EXPORT] | export --stop <volume>\n"
"                                            serve the image read-only over NBD\n"
"  map --chunk-sectors N --sectors LEN -o MAP SOURCE\n"
"                                            the map of a --mode top backup\n"
"  info [--list changed|map] <meta_device>   a persistent job's metadata (offline)\n"
"  reinstate                                 after a boot: the tracking jobs back\n"
"\n"
"<volume>: /dev/mapper/NAME, /dev/dm-N, a /dev/VG/LV link, or a dm name.\n"
"See dmbackup(8).\n");
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "start", cmd_start },
	{ "finish", cmd_finish },
	{ "status", cmd_status },
	{ "wait", cmd_wait },
	{ "speed", cmd_message },
	{ "pause", cmd_message },
	{ "resume", cmd_message },
	{ "cancel", cmd_message },
	{ "view", cmd_view },
	{ "export", cmd_export },
	{ "map", cmd_map },
	{ "info", cmd_info },
	{ "reinstate", cmd_reinstate },
};

int main(int argc, char **argv)
{
	const char *cmd;
	unsigned int i;
	int r = -1;

	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return EX_OK;
	}
	dm_setup();

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(cmd, commands[i].name))
			r = commands[i].run(argc - 1, argv + 1);
	if (r < 0) {
		err("unknown command '%s'", cmd);
		usage(stderr);
		r = EX_USAGE;
	}
	dm_teardown();
	return r;
}
