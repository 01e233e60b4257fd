// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup finish: end the job on a volume, put its original table (read
 * from the hidden device) back under its name in one suspend/resume, and
 * remove the hidden device.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

/* ---- finish ------------------------------------------------------------- */

static const char finish_usage[] =
"usage: dmbackup finish [--force] [--stop-tracking] <volume>...\n"
"\n"
"End the backup job on <volume>: put the volume's original table (read from\n"
"<name>" HIDDEN_SUFFIX ") back under its name in one suspend/resume, and\n"
"remove the hidden device.  Refuses while the job is running or paused\n"
"unless --force is given (which abandons the job: the backup is incomplete).\n"
"A job that tracks changes (start --track, start --incremental) stays on\n"
"the volume after it completed to record what is written for the next\n"
"increment: finish refuses it unless --stop-tracking is given, which ends\n"
"the record (the next backup is a full one) and removes the job's entry for\n"
"dmbackup reinstate.\n"
"Refuses, even with --force, while a view of the job exists or its image is\n"
"exported (dmbackup export).\n"
"On any failure the volume is left as it was.  Several volumes (a group's):\n"
"each is checked first, and if one is refused none is finished; then each\n"
"is finished in turn.\n";

/* ---- the steps ----------------------------------------------------------- */

/* struct finish - what the steps of a finish share. */
struct finish {
	struct volume v;
	struct table live;		/* the volume's table: the job's */
	struct table orig;		/* the hidden device's: the original */
	/* The resume was tried: the original table may have been live. */
	bool resume_tried;
};

/* Step "finish-load": the original table into the inactive slot. */
static bool load_run(void *ctx)
{
	struct finish *c = ctx;

	return load_table(c->v.name, &c->orig, c->v.info.read_only);
}

static bool load_failed(void *ctx)
{
	struct finish *c = ctx;

	err("cannot load the original table into %s; it is unchanged",
	    c->v.name);
	return true;
}

static bool load_undo(void *ctx)
{
	struct finish *c = ctx;

	simple_op(DM_DEVICE_CLEAR, c->v.name);
	return true;
}

/*
 * Step "finish-suspend".  Its undo resumes the job's table: the loaded one
 * is cleared first, or the resume would swap it in.
 */
static bool suspend_run(void *ctx)
{
	struct finish *c = ctx;

	return suspend_volume(c->v.name);
}

static bool suspend_failed(void *ctx)
{
	struct finish *c = ctx;

	err("cannot suspend %s; it is unchanged", c->v.name);
	return true;
}

static bool suspend_undo(void *ctx)
{
	struct finish *c = ctx;

	return unsuspend_unchanged(c->v.name);
}

/*
 * put_job_back - if the original table is live (a resume swapped it in),
 * load the backup table again and resume: a reload of the same backup
 * table takes the job over, with its progress.  If the job's table is
 * still live, the undos of load and suspend clear the loaded table and
 * resume.
 */
static bool put_job_back(struct finish *c)
{
	struct dm_info info;
	struct table now;
	bool swapped = false;

	if (read_table(c->v.name, DM_DEVICE_TABLE, &now)) {
		swapped = backup_target(&now) < 0;
		table_free(&now);
	}
	if (!swapped)
		return true;
	if (!load_table(c->v.name, &c->live, c->v.info.read_only) ||
	    !(get_info(c->v.name, &info) &&
	      (info.suspended || suspend_volume(c->v.name)))) {
		err("RESTORE FAILED: check %s with dmsetup info/table", c->v.name);
		return false;
	}
	if (!simple_op(DM_DEVICE_RESUME, c->v.name)) {
		err("RESTORE FAILED: %s may still be suspended (dmsetup resume %s)",
		    c->v.name, c->v.name);
		return false;
	}
	return true;
}

/*
 * Step "finish-resume": the original table is back.  A resume that fails
 * may have swapped the table all the same; one that succeeded and is
 * undone (when "finish-resume-after" fails) has: either way the job's
 * table goes back in.
 */
static bool resume_run(void *ctx)
{
	struct finish *c = ctx;

	return simple_op(DM_DEVICE_RESUME, c->v.name);
}

/* Said when the resume, or the checkpoint after it, fails. */
static void report_resume_failed(struct finish *c)
{
	c->resume_tried = true;
	err("cannot resume %s with the original table; restoring the backup table",
	    c->v.name);
}

static bool resume_failed(void *ctx)
{
	report_resume_failed(ctx);
	return put_job_back(ctx);
}

static bool resume_undo(void *ctx)
{
	return put_job_back(ctx);
}

/*
 * Step "finish-resume-after": a checkpoint for the selftests, where the
 * resume succeeded and then "failed"; resume's undo restores the job.
 * Past it, the volume has its original table for good (the commit): a
 * failure to remove the hidden device does not bring the job back.
 */
static bool resume_after_failed(void *ctx)
{
	report_resume_failed(ctx);
	return true;
}

/* Step "finish-remove": the hidden device is unused now. */
static bool remove_run(void *ctx)
{
	struct finish *c = ctx;

	return simple_op(DM_DEVICE_REMOVE, c->v.hidden);
}

static bool remove_failed(void *ctx)
{
	struct finish *c = ctx;

	err("%s has its original table back, but %s could not be removed: "
	    "run 'dmbackup finish %s' again or 'dmsetup remove %s'",
	    c->v.name, c->v.hidden, c->v.name, c->v.hidden);
	return true;
}

/*
 * The steps of finish, in order.  Their names are the DMBACKUP_FAIL_AT
 * names of the selftests (test_63).
 */
static const struct step finish_steps[] = {
	{ .name = "finish-load", .run = load_run, .failed = load_failed,
	  .undo = load_undo },
	{ .name = "finish-suspend", .run = suspend_run,
	  .failed = suspend_failed, .undo = suspend_undo },
	{ .name = "finish-resume", .run = resume_run,
	  .failed = resume_failed, .undo = resume_undo },
	{ .name = "finish-resume-after", .failed = resume_after_failed,
	  .commit = true },
	{ .name = "finish-remove", .run = remove_run,
	  .failed = remove_failed },
};

/* ---- the command --------------------------------------------------------- */

/*
 * finish_refuses - the refusals of finish, before anything is changed;
 * reads the tables into @c (which the caller frees either way).  A finish
 * that got as far as the swap has only the removal left: that is done
 * here, and *@done says so.
 */
static bool finish_refuses(struct finish *c, bool force, bool stop_tracking,
			   bool *done, struct bstatus *s)
{
	struct volume *v = &c->v;
	struct view_search vs;
	struct dm_info hinfo;
	unsigned int oma, omi;
	int bi;

	if (!read_table(v->name, DM_DEVICE_TABLE, &c->live)) {
		err("%s: cannot read its table", v->name);
		return true;
	}
	bi = backup_target(&c->live);
	if (bi < 0) {
		/* A finish that got as far as the swap: only the removal is left. */
		if (get_info(v->hidden, &hinfo) && hinfo.exists && !hinfo.open_count) {
			if (!simple_op(DM_DEVICE_REMOVE, v->hidden)) {
				err("cannot remove %s", v->hidden);
				return true;
			}
			printf("%s: removed the left-over %s\n", v->name, v->hidden);
			*done = true;
			return true;
		}
		err("%s: no backup job runs on this volume", v->name);
		return true;
	}
	if (c->live.n != 1 ||
	    sscanf(c->live.t[bi].params, "%u:%u", &oma, &omi) != 2 ||
	    !get_info(v->hidden, &hinfo) || !hinfo.exists ||
	    hinfo.major != oma || hinfo.minor != omi) {
		err("%s: its backup job was not started by dmbackup (its origin is not %s): "
		    "finish it with dmsetup", v->name, v->hidden);
		return true;
	}
	/*
	 * The original table would cut a view off its job (its reads fail
	 * from then on): even --force leaves that to the view's owner.  An
	 * export's clients read it (or the backup device) too: say so first.
	 */
	if (export_refuses(v->name))
		return true;
	switch (find_views(v, &vs)) {
	case -1:
		return true;
	case 0:
		break;
	default:
		err("%s: the job's image is still read through the view %s: "
		    "remove it first (dmbackup view --remove NAME)", v->name, vs.names);
		return true;
	}
	if (!job_status(v, s, NULL))
		return true;
	if (!job_ended(s) && !force) {
		err("%s: the job is still %s (%" PRIu64 "/%" PRIu64 " chunks): wait for it, "
		    "cancel it, or use --force to abandon it", v->name, s->state,
		    s->copied, s->total);
		return true;
	}
	if (job_tracks(s) && !stop_tracking) {
		err("%s: job %s tracks changes: finishing it ends its record, and "
		    "the next backup must be a full one; for the next increment run "
		    "'dmbackup start --incremental %s' instead, or, to end the "
		    "record, 'dmbackup finish --stop-tracking %s'", v->name,
		    s->uuid, v->name, v->name);
		return true;
	}
	if (v->info.inactive_table) {
		err("%s has an inactive table loaded (another tool is changing it): "
		    "clear it first", v->name);
		return true;
	}
	if (!read_table(v->hidden, DM_DEVICE_TABLE, &c->orig) || !c->orig.n) {
		err("%s: cannot read its table", v->hidden);
		return true;
	}
	if (table_len(&c->orig) != c->live.t[0].len) {
		err("%s and %s differ in size: refusing", v->name, v->hidden);
		return true;
	}
	return false;
}

/* finish_one - the steps of finish on a volume that finish_refuses() let by. */
static int finish_one(struct finish *c, const struct bstatus *s)
{
	switch (run_steps(finish_steps, ARRAY_SIZE(finish_steps), c)) {
	case STEPS_DONE:
		printf("%s: original table restored (job %s, %" PRIu64 "/%" PRIu64
		       " chunks)\n", c->v.name, s->state, s->copied, s->total);
		if (job_tracks(s)) {
			printf("%s: change tracking stopped (job %s)\n", c->v.name,
			       s->uuid);
			jobconf_remove(c->v.name);
		}
		return EX_OK;
	case STEPS_UNDONE:
		if (c->resume_tried)
			err("%s is restored as it was (the job goes on)", c->v.name);
		break;
	case STEPS_UNDO_FAILED:
		break;		/* the undo said what to do */
	}
	return EX_ERR;
}

struct finish_args {
	bool force;		/* --force: abandon a running job */
	bool stop_tracking;	/* --stop-tracking: end a tracking job */
};

static int finish_opt(void *ctx, int key, const char *val)
{
	struct finish_args *a = ctx;

	if (key == 'f')
		a->force = true;
	else
		a->stop_tracking = true;
	return EX_OK;
}

int cmd_finish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "stop-tracking", no_argument, NULL, OPT_STOP_TRACKING },
		{ NULL, 0, NULL, 0 }
	};
	struct finish_args a = { false, false };
	bool done[CMD_MAX_POS] = { false };
	struct cmd_line cl = {
		.name = "finish", .usage = finish_usage, .opts = opts,
		.min_pos = 1, .max_pos = CMD_MAX_POS, .opt = finish_opt,
		.ctx = &a,
	};
	struct bstatus s[CMD_MAX_POS];
	struct finish *c;
	int i, n, r;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	c = calloc(cl.npos, sizeof(*c));
	if (!c) {
		err("out of memory");
		return EX_ERR;
	}
	/* Every volume is checked before any is changed. */
	r = EX_OK;
	for (n = 0; n < cl.npos && r == EX_OK; n++)
		if (!resolve_volume(cl.pos[n], &c[n].v) ||
		    (finish_refuses(&c[n], a.force, a.stop_tracking, &done[n],
				    &s[n]) && !done[n]))
			r = EX_ERR;
	for (i = 0; i < n && r == EX_OK; i++)
		if (!done[i])
			r = finish_one(&c[i], &s[i]);
	for (i = 0; i < n; i++) {
		table_free(&c[i].orig);
		table_free(&c[i].live);
	}
	free(c);
	return r;
}
