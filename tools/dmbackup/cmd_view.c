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

/* ---- the steps of view creation ----------------------------------------- */

/* struct view - what the steps of a view creation share. */
struct view {
	struct volume v;		/* the volume whose job it shows */
	const char *name;		/* the new device */
	struct target vt;		/* its one backup-view target */
	char devs[64];			/* the job's "origin backup": vt's params */
	char before[512];		/* the view target's last log line before */
	int e;				/* the errno of a failed create */
	bool tried;			/* the create was tried (not injected) */
};

/* Step "view-create": the device, with its backup-view table, read-only. */
static bool create_run(void *ctx)
{
	struct view *c = ctx;
	struct table tb = { 1, &c->vt };

	c->tried = true;
	if (!last_view_log(c->before, sizeof(c->before)))
		c->before[0] = '\0';
	return create_dev(c->name, &tb, true, &c->e);
}

/*
 * remove_view - remove the device @c->name if it exists: only what this
 * run created, as the name was free before.
 */
static bool remove_view(const struct view *c)
{
	if (dev_exists(c->name) && !simple_op(DM_DEVICE_REMOVE, c->name)) {
		err("could not remove %s: remove it by hand (dmsetup remove %s)",
		    c->name, c->name);
		return false;
	}
	return true;
}

static bool create_failed(void *ctx)
{
	struct view *c = ctx;

	if (c->tried)
		view_failed(c->name, &c->v, c->e, c->before);
	else
		err("cannot create the view %s; nothing was changed", c->name);
	/* A create that fails after the device exists leaves it behind. */
	return remove_view(c);
}

static bool create_undo(void *ctx)
{
	return remove_view(ctx);
}

/*
 * Step "view-create-after": a checkpoint for the selftests, where the
 * create succeeded and then "failed"; create's undo removes the view.
 */
static bool create_after_failed(void *ctx)
{
	struct view *c = ctx;

	err("the view %s was created, removing it", c->name);
	return true;
}

/*
 * The steps of view creation, in order.  Their names are the
 * DMBACKUP_FAIL_AT names of the selftests (test_66).
 */
static const struct step view_steps[] = {
	{ .name = "view-create", .run = create_run, .failed = create_failed,
	  .undo = create_undo },
	{ .name = "view-create-after", .failed = create_after_failed },
};

/* ---- the command --------------------------------------------------------- */

/*
 * view_refuses - the refusals of a view creation, before anything is
 * changed; fills in @c's volume and its view target.
 */
static bool view_refuses(struct view *c, const char *vol_arg)
{
	struct target where;
	struct bstatus s;

	if (!resolve_dm(vol_arg, &c->v) || !check_view_name(c->name))
		return true;
	if (!job_status(&c->v, &s, &where))
		return true;
	if (!job_devices(&c->v, c->devs, sizeof(c->devs))) {
		err("%s: cannot read the devices of its backup job", c->v.name);
		return true;
	}
	if (strcmp(s.state, "running") && strcmp(s.state, "paused") &&
	    strcmp(s.state, "completed")) {
		err("%s: the job is %s: its point-in-time image is gone", c->v.name,
		    s.state);
		return true;
	}
	c->vt = (struct target){ 0, where.len, "backup-view", c->devs };
	return false;
}

/* view_create - the view @name of the job on @vol_arg (also export's). */
int view_create(const char *vol_arg, const char *name)
{
	struct view c = { .name = name };

	if (view_refuses(&c, vol_arg))
		return EX_ERR;
	if (run_steps(view_steps, ARRAY_SIZE(view_steps), &c) != STEPS_DONE)
		return EX_ERR;		/* the steps said what happened */
	printf("%s: view of the backup job on %s: /dev/mapper/%s, %" PRIu64
	       " sectors, read-only\n", name, c.v.name, name, c.vt.len);
	return EX_OK;
}

/* view_remove - remove the view @arg, refusing anything else (also export's). */
int view_remove(const char *arg)
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
