// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup speed, pause, resume and cancel: the backup target's messages.
 */
#include <inttypes.h>
#include <string.h>

#include "dmbackup.h"

/* ---- messages ----------------------------------------------------------- */

static const char *const message_usage[][2] = {
	{ "speed",
"usage: dmbackup speed <volume> RATE\n"
"\n"
"Change the rate limit of the job's background copy: bytes per second with\n"
"an optional K, M, G or T suffix, 0 for unlimited.\n" },
	{ "pause",
"usage: dmbackup pause <volume>\n"
"\n"
"Pause the job's background copy (copy-before-write goes on).\n" },
	{ "resume",
"usage: dmbackup resume <volume>\n"
"\n"
"Resume a paused job.\n" },
	{ "cancel",
"usage: dmbackup cancel <volume>\n"
"\n"
"Cancel the job (the backup is incomplete); then run\n"
"'dmbackup finish <volume>'.\n" },
};

/* cmd_message - speed, pause, resume and cancel: the target's messages. */
int cmd_message(int argc, char **argv)
{
	const char *cmd = argv[0], *vol_arg, *rate_arg;
	bool is_speed = !strcmp(cmd, "speed");
	struct cmd_line cl = {
		.name = cmd, .min_pos = 1 + is_speed, .max_pos = 1 + is_speed,
	};
	char msg[64];
	struct volume v;
	struct bstatus s;
	struct target where;
	uint64_t rate = 0;
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(message_usage); i++)
		if (!strcmp(cmd, message_usage[i][0]))
			cl.usage = message_usage[i][1];
	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	vol_arg = cl.pos[0];
	rate_arg = cl.pos[1];
	if (is_speed) {
		if (!parse_rate(rate_arg, &rate)) {
			err("%s: not a rate (e.g. 33554432, 32M, 1G)", rate_arg);
			return EX_USAGE;
		}
		snprintf(msg, sizeof(msg), "speed %" PRIu64, rate);
	} else {
		snprintf(msg, sizeof(msg), "%s", cmd);
	}
	if (!resolve_volume(vol_arg, &v) || !job_status(&v, &s, &where))
		return EX_ERR;
	if (!send_message(v.name, where.start, msg)) {
		err("%s: the job refused '%s' (state %s)", v.name, msg, s.state);
		return EX_ERR;
	}
	if (job_status(&v, &s, NULL))
		print_job(stdout, v.name, &s, -1);
	return EX_OK;
}
