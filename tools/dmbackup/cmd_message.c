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
"usage: dmbackup pause <volume>...\n"
"\n"
"Pause the job's background copy (copy-before-write goes on).\n" },
	{ "resume",
"usage: dmbackup resume <volume>...\n"
"\n"
"Resume a paused job.\n" },
	{ "cancel",
"usage: dmbackup cancel <volume>...\n"
"\n"
"Cancel the job (the backup is incomplete); then run\n"
"'dmbackup finish <volume>'.  Several volumes (a group's): each must have\n"
"a job, else none is cancelled.\n" },
};

/*
 * send_to - send @msg to the job on each of the volumes @vols, once each
 * has been found to have a job: a typo does not leave half a group
 * cancelled.
 */
static int send_to(const char *const *vols, int n, const char *msg)
{
	struct volume v[CMD_MAX_POS];
	struct target where[CMD_MAX_POS];
	struct bstatus s[CMD_MAX_POS];
	int i, r = EX_OK;

	for (i = 0; i < n; i++)
		if (!resolve_volume(vols[i], &v[i]) ||
		    !job_status(&v[i], &s[i], &where[i]))
			return EX_ERR;
	for (i = 0; i < n; i++) {
		if (!send_message(v[i].name, where[i].start, msg)) {
			err("%s: the job refused '%s' (state %s)", v[i].name, msg,
			    s[i].state);
			r = EX_ERR;
			continue;
		}
		if (job_status(&v[i], &s[i], NULL))
			print_job(stdout, v[i].name, &s[i], -1);
	}
	return r;
}

/* cmd_message - speed, pause, resume and cancel: the target's messages. */
int cmd_message(int argc, char **argv)
{
	const char *cmd = argv[0];
	bool is_speed = !strcmp(cmd, "speed");
	struct cmd_line cl = {
		.name = cmd, .min_pos = 1 + is_speed,
		.max_pos = is_speed ? 2 : CMD_MAX_POS,
	};
	char msg[64];
	uint64_t rate = 0;
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(message_usage); i++)
		if (!strcmp(cmd, message_usage[i][0]))
			cl.usage = message_usage[i][1];
	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	if (is_speed) {
		if (!parse_rate(cl.pos[1], &rate)) {
			err("%s: not a rate (e.g. 33554432, 32M, 1G)", cl.pos[1]);
			return EX_USAGE;
		}
		snprintf(msg, sizeof(msg), "speed %" PRIu64, rate);
		return send_to(cl.pos, 1, msg);
	}
	return send_to(cl.pos, cl.npos, cmd);
}
