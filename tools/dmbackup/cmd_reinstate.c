// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup reinstate: after a boot, put every change-tracking job back
 * under its volume, before anything writes to it (the boot hook
 * dmbackup-reinstate.service runs it before local-fs-pre.target).  A
 * tracking job's record lives on its metadata device, but only its table
 * records writes: a volume written to without it has a record that misses
 * those writes, and the next increment would be wrong.
 *
 * For every $DMBACKUP_JOBS_DIR/<volume>.conf (jobconf.c) the table comes
 * from the file (devices, optional arguments) and from the metadata device
 * (sync mode; an increment reloads with "increment <parent>", as the kernel
 * wants).  The steps are start's: the volume's table moves to the hidden
 * device, the backup table over it is loaded and switched in with one
 * suspend/resume; on any failure the volume is left as it was.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

static const char reinstate_usage[] =
"usage: dmbackup reinstate\n"
"\n"
"After a boot, put every backup job that tracks changes (start --track,\n"
"start --incremental) back under its volume, so that its record of the\n"
"chunks written goes on: run it after the volumes are activated and before\n"
"anything mounts or writes them (dmbackup-reinstate.service does).  The jobs\n"
"are the files <volume>.conf in $DMBACKUP_JOBS_DIR (default\n"
"/etc/dmbackup/jobs), written by start and removed by finish\n"
"--stop-tracking; the job itself is read from its metadata device.  A volume\n"
"that has its job already is left alone.  Exit code: 0 every job is in place,\n"
"1 one or more could not be reinstated (each says why; the others are).\n";

struct reinstate {
	struct volume v;
	struct jobconf jc;
	struct table orig;		/* the volume's table at boot */
	char params[1600];		/* the backup table's arguments */
	char targs[1024];		/* its arguments after the devices */
};

/* ---- the steps ----------------------------------------------------------- */

/* Step "reinstate-create": the hidden device with the volume's table. */
static bool create_run(void *ctx)
{
	struct reinstate *c = ctx;
	struct dm_info h;

	if (!create_dev(c->v.hidden, &c->orig, c->v.info.read_only, NULL))
		return false;
	if (!get_info(c->v.hidden, &h) || !h.exists)
		return false;
	snprintf(c->params, sizeof(c->params), "%u:%u %s %s", h.major, h.minor,
		 c->jc.backup, c->targs);
	return true;
}

static bool create_failed(void *ctx)
{
	struct reinstate *c = ctx;

	err("cannot create %s; %s is unchanged", c->v.hidden, c->v.name);
	if (dev_exists(c->v.hidden))
		simple_op(DM_DEVICE_REMOVE, c->v.hidden);
	return true;
}

static bool create_undo(void *ctx)
{
	struct reinstate *c = ctx;

	if (!simple_op(DM_DEVICE_REMOVE, c->v.hidden))
		err("could not remove %s: remove it by hand", c->v.hidden);
	return true;
}

/* Step "reinstate-load": the backup table into the inactive slot. */
static bool load_run(void *ctx)
{
	struct reinstate *c = ctx;
	struct target t = { 0, table_len(&c->orig), "backup", c->params };
	struct table tb = { 1, &t };

	return load_table(c->v.name, &tb, c->v.info.read_only);
}

static bool load_failed(void *ctx)
{
	struct reinstate *c = ctx;

	err("cannot load the backup table '0 %" PRIu64 " backup %s' into %s "
	    "(the kernel log says why); %s is unchanged", table_len(&c->orig),
	    c->params, c->v.name, c->v.name);
	return true;
}

static bool load_undo(void *ctx)
{
	struct reinstate *c = ctx;

	simple_op(DM_DEVICE_CLEAR, c->v.name);
	return true;
}

static bool suspend_run(void *ctx)
{
	struct reinstate *c = ctx;

	return suspend_volume(c->v.name);
}

static bool suspend_failed(void *ctx)
{
	struct reinstate *c = ctx;

	err("cannot suspend %s; it is unchanged", c->v.name);
	return true;
}

/* Clear the loaded table first, or the resume would swap it in. */
static bool suspend_undo(void *ctx)
{
	struct reinstate *c = ctx;

	return unsuspend_unchanged(c->v.name);
}

static bool resume_run(void *ctx)
{
	struct reinstate *c = ctx;

	return simple_op(DM_DEVICE_RESUME, c->v.name);
}

static bool resume_failed(void *ctx)
{
	struct reinstate *c = ctx;

	err("cannot resume %s with the backup table", c->v.name);
	return true;
}

static const struct step reinstate_steps[] = {
	{ .name = "reinstate-create", .run = create_run,
	  .failed = create_failed, .undo = create_undo },
	{ .name = "reinstate-load", .run = load_run, .failed = load_failed,
	  .undo = load_undo },
	{ .name = "reinstate-suspend", .run = suspend_run,
	  .failed = suspend_failed, .undo = suspend_undo },
	{ .name = "reinstate-resume", .run = resume_run,
	  .failed = resume_failed },
};

/* ---- one job ------------------------------------------------------------- */

/*
 * job_targs - the backup table's arguments after the devices, from the
 * file's options and the job on the metadata device.
 */
static bool job_targs(struct reinstate *c)
{
	char why[512], parent[40], inc[64] = "";
	struct meta_job j;
	int nopts = 0;

	switch (meta_read(c->jc.meta, &j, why, sizeof(why))) {
	case META_JOB:
		break;
	case META_EMPTY:
		err("%s: metadata device %s holds no job", c->v.name, c->jc.meta);
		return false;
	default:
		err("%s: metadata device %s: %s", c->v.name, c->jc.meta, why);
		return false;
	}
	if (!j.track) {
		err("%s: the job on %s does not track changes", c->v.name,
		    c->jc.meta);
		return false;
	}
	if (j.increment) {
		meta_uuid_str(j.parent_uuid, parent);
		snprintf(inc, sizeof(inc), " increment %s", parent);
		nopts += 2;
	}
	for (const char *p = c->jc.options; *p; p += strspn(p, " ")) {
		p += strcspn(p, " ");
		nopts++;
	}
	snprintf(c->targs, sizeof(c->targs), "%s %d%s%s meta %s track on%s",
		 meta_mode_name(j.sync_mode), nopts + 4, *c->jc.options ? " " : "",
		 c->jc.options, c->jc.meta, inc);
	return true;
}

/* reinstate_one - the job of file @path; false if it is not in place. */
static bool reinstate_one(const char *path)
{
	struct reinstate c = { 0 };
	bool ok = false;
	int bi;

	if (!jobconf_load(path, &c.jc))
		return false;
	if (!resolve_volume(c.jc.volume, &c.v))
		return false;
	if (!read_table(c.v.name, DM_DEVICE_TABLE, &c.orig) || !c.orig.n) {
		err("%s: cannot read its table", c.v.name);
		goto out;
	}
	bi = backup_target(&c.orig);
	if (bi >= 0) {
		printf("%s: has its backup job already\n", c.v.name);
		ok = true;
		goto out;
	}
	if (dev_exists(c.v.hidden)) {
		err("%s: %s exists: %s", c.v.name, c.v.hidden, ORPHAN_HINT);
		goto out;
	}
	if (c.v.info.suspended || c.v.info.inactive_table) {
		err("%s is suspended or has an inactive table: not touching it",
		    c.v.name);
		goto out;
	}
	if (!job_targs(&c))
		goto out;
	switch (run_steps(reinstate_steps, ARRAY_SIZE(reinstate_steps), &c)) {
	case STEPS_DONE: {
		struct bstatus s;

		ok = true;
		if (job_status(&c.v, &s, NULL))
			printf("%s: job %s reinstated (%s, %s)\n", c.v.name, s.uuid,
			       s.state, !strcmp(s.changed, "lost") ? "record lost" :
			       "recording");
		break;
	}
	case STEPS_UNDONE:
		err("%s is restored as it was (its job is not reinstated)",
		    c.v.name);
		break;
	case STEPS_UNDO_FAILED:
		break;
	}
out:
	table_free(&c.orig);
	return ok;
}

/* ---- the command --------------------------------------------------------- */

static int conf_filter(const struct dirent *de)
{
	size_t l = strlen(de->d_name);

	return de->d_name[0] != '.' && l > 5 && !strcmp(de->d_name + l - 5, ".conf");
}

int cmd_reinstate(int argc, char **argv)
{
	struct cmd_line cl = {
		.name = "reinstate", .usage = reinstate_usage,
		.min_pos = 0, .max_pos = 0,
	};
	const char *dir = jobconf_dir();
	struct dirent **names;
	int r, n, bad = 0;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	n = scandir(dir, &names, conf_filter, alphasort);
	if (n < 0) {
		if (errno == ENOENT) {
			printf("no change-tracking jobs (%s does not exist)\n", dir);
			return EX_OK;
		}
		err("%s: %s", dir, strerror(errno));
		return EX_ERR;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		bad += !reinstate_one(path);
		free(names[i]);
	}
	free(names);
	if (!n)
		printf("no change-tracking jobs in %s\n", dir);
	return bad ? EX_ERR : EX_OK;
}
