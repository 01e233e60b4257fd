// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup view: a read-only device (a backup-view target) that shows the
 * point-in-time image of a job while the volume stays in use, and its
 * removal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>

#include "dmbackup.h"

/* ---- views -------------------------------------------------------------- */

static const char view_usage[] =
"usage: dmbackup view <volume> <name>\n"
"       dmbackup view --remove <name>\n"
"\n"
"Create /dev/mapper/<name>, a read-only device (a backup-view target) that\n"
"shows the point-in-time image of the backup job on <volume> while the\n"
"volume stays in use: a backup program reads it at its own pace (dd, tar,\n"
"mount -o ro,noload).  With 'dmbackup start --mode none' the job copies only\n"
"what writes are about to change, so nothing else is copied (pull-style\n"
"backup).  Refuses a volume without a job, a job that failed or was\n"
"cancelled, and a <name> that exists.  --remove removes the view <name>, and\n"
"refuses any device that is not a view.  'dmbackup finish' refuses while a\n"
"view of the job exists.  On any failure nothing is changed.\n";

/* check_view_name - a name dm accepts for a new device; false (and why) if not. */
static bool check_view_name(const char *name)
{
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		err("'%s' is not a device name (no '/', not empty)", name);
		return false;
	}
	if (strlen(name) >= DM_NAME_LEN) {
		err("the name '%s' is too long (at most %d characters)", name,
		    DM_NAME_LEN - 1);
		return false;
	}
	if (dev_exists(name)) {
		err("a device named %s exists already: choose another name", name);
		return false;
	}
	return true;
}

/*
 * last_view_log - the last kernel log line of the backup-view target (its
 * constructor says why it refused a table) into @buf; false if none.
 */
static bool last_view_log(char *buf, size_t len)
{
	int n = klogctl(10, NULL, 0);	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *log, *line, *found = NULL;

	if (n <= 0)
		return false;
	log = malloc(n + 1);
	if (!log)
		return false;
	n = klogctl(3, log, n);		/* SYSLOG_ACTION_READ_ALL */
	if (n < 0) {
		free(log);
		return false;
	}
	log[n] = '\0';
	for (line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, "backup-view: "))
			found = line;
	if (found) {
		/* Drop "<3>[   53.439014] ", the level and the time stamp. */
		line = strstr(found, "] ");
		snprintf(buf, len, "%s", line ? line + 2 : found);
	}
	free(log);
	return found;
}

/*
 * view_failed - say why the kernel refused the view @name of @v: its errno
 * (EBUSY: a device it reads is open exclusively outside device-mapper) and
 * the view target's last kernel log line, unless that is @before, the last
 * one before the attempt.
 */
static void view_failed(const char *name, const struct volume *v, int e,
			const char *before)
{
	char line[512];
	bool logged = last_view_log(line, sizeof(line)) && strcmp(line, before);

	/* libdevmapper may lose the errno when it removes the new device. */
	if (!e && logged && strstr(line, "(-EBUSY)"))
		e = EBUSY;
	if (e == EBUSY)
		err("cannot create the view %s of %s: a device it reads is open "
		    "exclusively (EBUSY) by something other than device-mapper; "
		    "nothing was changed", name, v->name);
	else
		err("cannot create the view %s: %s; nothing was changed", name,
		    e ? strerror(e) : "the kernel refused the table");
	if (logged)
		err("the kernel log says: %s", line);
}

static int view_create(const char *vol_arg, const char *name)
{
	struct target where, vt;
	struct table tb = { 1, &vt };
	struct bstatus s;
	struct volume v;
	char devs[64], before[512];
	int e;

	if (!resolve_dm(vol_arg, &v) || !check_view_name(name))
		return EX_ERR;
	if (!job_status(&v, &s, &where))
		return EX_ERR;
	if (!job_devices(&v, devs, sizeof(devs))) {
		err("%s: cannot read the devices of its backup job", v.name);
		return EX_ERR;
	}
	if (strcmp(s.state, "running") && strcmp(s.state, "paused") &&
	    strcmp(s.state, "completed")) {
		err("%s: the job is %s: its point-in-time image is gone", v.name, s.state);
		return EX_ERR;
	}

	vt = (struct target){ 0, where.len, "backup-view", devs };
	if (fail_at("view-create")) {
		err("cannot create the view %s; nothing was changed", name);
		goto undo;
	}
	if (!last_view_log(before, sizeof(before)))
		before[0] = '\0';
	if (!create_dev(name, &tb, true, &e)) {
		view_failed(name, &v, e, before);
		goto undo;
	}
	if (fail_at("view-create-after")) {
		err("the view %s was created, removing it", name);
		goto undo;
	}
	printf("%s: view of the backup job on %s: /dev/mapper/%s, %" PRIu64
	       " sectors, read-only\n", name, v.name, name, where.len);
	return EX_OK;

undo:
	/* Only what this run created: the name was free before. */
	if (dev_exists(name) && !simple_op(DM_DEVICE_REMOVE, name))
		err("could not remove %s: remove it by hand (dmsetup remove %s)",
		    name, name);
	return EX_ERR;
}

static int view_remove(const char *arg)
{
	struct volume w;
	struct table tb;
	bool is_view;

	if (!resolve_dm(arg, &w))
		return EX_ERR;
	if (!read_table(w.name, DM_DEVICE_TABLE, &tb)) {
		err("%s: cannot read its table", w.name);
		return EX_ERR;
	}
	is_view = tb.n == 1 && !strcmp(tb.t[0].type, "backup-view");
	table_free(&tb);
	if (!is_view) {
		err("%s is not a backup-view device: not removing it", w.name);
		return EX_ERR;
	}
	if (w.info.open_count) {
		err("the view %s is in use (mounted, or open in a program): "
		    "close it first", w.name);
		return EX_ERR;
	}
	if (fail_at("view-remove") || !simple_op(DM_DEVICE_REMOVE, w.name)) {
		err("cannot remove the view %s; it is unchanged", w.name);
		return EX_ERR;
	}
	printf("%s: view removed\n", w.name);
	return EX_OK;
}

int cmd_view(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "remove", no_argument, NULL, OPT_REMOVE },
		{ NULL, 0, NULL, 0 }
	};
	bool remove = false;
	struct cmd_line cl = {
		.name = "view", .usage = view_usage, .opts = opts,
		.min_pos = 1, .max_pos = 2, .opt = flag_opt, .ctx = &remove,
	};
	int r;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	if (cl.npos != (remove ? 1 : 2)) {
		fputs(view_usage, stderr);
		return EX_USAGE;
	}
	return remove ? view_remove(cl.pos[0]) : view_create(cl.pos[0], cl.pos[1]);
}
