// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup start --incremental: the next backup of a volume whose last
 * backup tracks changes (start --track).  That job, completed, is still
 * the volume's table and has recorded every chunk written since its point
 * in time.  An increment table (sync mode top, "increment <uuid>") over
 * the same hidden origin, with the same metadata device, is loaded and
 * switched in with one suspend/resume: at that resume the kernel takes the
 * new point in time, turns the record into the increment's map and starts
 * a fresh record, all in one metadata write.  The steps are start's: load,
 * suspend (which freezes the file system), resume; a failure before the
 * resume leaves the tracking job as it was.  With --or-full, a job of
 * which no exact increment can be made (failed, cancelled, its record
 * lost) is replaced by a full tracking backup instead (see "--or-full"
 * below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <unistd.h>

#include "dmbackup.h"

static const char incremental_usage[] =
"usage: dmbackup start --incremental <volume> [<backup_device>]\n"
"           [--list FILE] [--speed RATE] [--or-full]\n"
"\n"
"Start the next backup of <volume>, whose last backup tracks changes (start\n"
"--meta --track): it copies only the chunks written since that backup's\n"
"point in time, onto <backup_device> (default: the last backup's device,\n"
"which then becomes the image of the new point in time).  The job's metadata\n"
"device, table options and hidden origin are the tracking job's; the new\n"
"job is persistent and tracks changes too, so that the next start\n"
"--incremental continues the chain.  The volume is suspended (its file\n"
"system frozen) once: that resume is the new point in time.  Prints the new\n"
"job's uuid, point in time, and the chunks and bytes it copies.  --list FILE\n"
"writes those chunks as byte ranges of the volume (\"<offset> <length>\"\n"
"per run of chunks, as dmbackup info --list map; FILE - is standard output,\n"
"and the report goes to standard error then).  RATE as in start.\n"
"Refuses a volume without a backup job, one whose job does not track\n"
"changes, is still running or paused, failed, was cancelled, or lost its\n"
"record.  --or-full: when the job failed, was cancelled or lost its record\n"
"(no exact increment can be made of it), start a full backup that tracks\n"
"changes instead, onto <backup_device> (default: the last backup's device),\n"
"with the job's metadata device and options: the old job's table is\n"
"retired, the metadata device wiped, and the new job switched in (a second\n"
"suspend/resume, the new point in time); it says that it fell back and why,\n"
"and --list FILE holds one range, the whole volume.  A running or paused\n"
"job is still refused.  On any failure before the (last) resume, the\n"
"tracking job stays as it was.\n";

struct inc_args {
	const char *list;		/* --list FILE */
	uint64_t speed;
	bool speed_set;
	bool or_full;			/* --or-full */
};

static int inc_opt(void *ctx, int key, const char *val)
{
	struct inc_args *a = ctx;

	switch (key) {
	case OPT_INCREMENTAL:
		break;
	case OPT_OR_FULL:
		a->or_full = true;
		break;
	case OPT_LIST:
		if (!*val)
			return bad_value("list", "''", "a file name");
		a->list = val;
		break;
	case OPT_SPEED:
		if (!parse_rate(val, &a->speed))
			return bad_value("speed", val, "not a rate (e.g. 33554432, 32M, 1G)");
		a->speed_set = true;
		break;
	}
	return EX_OK;
}

/* struct inc - what the steps of an incremental start share. */
struct inc {
	struct volume v;
	struct table live;		/* the tracking job's table */
	char origin[16], backup[16];	/* its devices, "major:minor" */
	char meta[16];			/* its metadata device */
	char meta_path[288];		/* a node of it, for meta_read() */
	char params[640];		/* the increment table's arguments */
	char opts[512];			/* its optional arguments, unchanged */
	int nopts;
	bool track;			/* the live table has "track on" */
	/* --or-full: why no increment can be made; "": an increment. */
	char why[256];
	void *saved;			/* --or-full: the old job's */
	size_t saved_len;		/* metadata, for the undo */
	bool untracked;			/* untracked_back() ran */
};

/* ---- the live job's table ------------------------------------------------ */

/*
 * parse_live - the tracking job's devices and optional arguments from its
 * table line "<origin> <backup> <mode> [<#opts> <opt> <value>...]".  The
 * increment keeps every option but map, meta, track and increment (which
 * it sets itself), and speed if --speed is given.
 */
static bool parse_live(struct inc *c, const char *params,
		       const struct inc_args *a)
{
	char *copy = strdup(params), *save = NULL, *w;
	int n = 0;
	size_t l;

	if (!copy)
		return false;
	w = strtok_r(copy, " ", &save);
	snprintf(c->origin, sizeof(c->origin), "%s", w ? w : "");
	w = strtok_r(NULL, " ", &save);
	snprintf(c->backup, sizeof(c->backup), "%s", w ? w : "");
	strtok_r(NULL, " ", &save);			/* the mode */
	w = strtok_r(NULL, " ", &save);
	if (w)
		n = atoi(w);
	/* speed comes first in the kernel's canonical order. */
	if (a->speed_set && a->speed) {
		snprintf(c->opts, sizeof(c->opts), " speed %" PRIu64, a->speed);
		c->nopts += 2;
	}
	for (int i = 0; i + 1 < n; i += 2) {
		char *key = strtok_r(NULL, " ", &save);
		char *val = strtok_r(NULL, " ", &save);

		if (!key || !val)
			break;
		if (!strcmp(key, "meta")) {
			snprintf(c->meta, sizeof(c->meta), "%s", val);
			continue;
		}
		if (!strcmp(key, "track")) {
			c->track = !strcmp(val, "on");
			continue;
		}
		if (!strcmp(key, "map") || !strcmp(key, "increment") ||
		    (!strcmp(key, "speed") && a->speed_set))
			continue;
		l = strlen(c->opts);
		snprintf(c->opts + l, sizeof(c->opts) - l, " %s %s", key, val);
		c->nopts += 2;
	}
	free(copy);
	return c->origin[0] && c->backup[0];
}

/*
 * dev_node - a device node of "major:minor" @dev: /dev/<DEVNAME> from
 * sysfs (devtmpfs has it, udev or not).
 */
static bool dev_node(const char *dev, char *path, size_t len)
{
	char buf[128], line[256];
	bool ok = false;
	FILE *f;

	snprintf(buf, sizeof(buf), "/sys/dev/block/%s/uevent", dev);
	f = fopen(buf, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, len, "/dev/%s", line + 8);
			ok = true;
		}
	fclose(f);
	return ok;
}

/*
 * inc_refuses - the refusals, before anything is changed: no backup job
 * on the volume, one not started by dmbackup, not tracking, still running
 * or paused; failed, cancelled or its record lost (unless --or-full: then
 * @c->why says which); a backup device that is no block device or too
 * small.  Fills @c and *@s (the tracking job's status).
 */
static bool inc_refuses(struct inc *c, const char *bdev_arg,
			const struct inc_args *a, struct bstatus *s)
{
	struct volume *v = &c->v;
	struct dm_info hinfo;
	char hidden_dev[16];
	struct stat st;
	int bi;

	if (!read_table(v->name, DM_DEVICE_TABLE, &c->live) || !c->live.n) {
		err("%s: cannot read its table", v->name);
		return true;
	}
	bi = backup_target(&c->live);
	if (bi < 0) {
		err("%s: no backup job on this volume, so no record of changes to "
		    "copy: start a full backup that tracks them first (dmbackup "
		    "start %s <backup_device> --meta <meta_device> --track)",
		    v->name, v->name);
		return true;
	}
	if (!get_info(v->hidden, &hinfo) || !hinfo.exists || c->live.n != 1 ||
	    !parse_live(c, c->live.t[bi].params, a)) {
		err("%s: its backup job was not started by dmbackup (its origin is "
		    "not %s)", v->name, v->hidden);
		return true;
	}
	snprintf(hidden_dev, sizeof(hidden_dev), "%u:%u", hinfo.major, hinfo.minor);
	if (strcmp(hidden_dev, c->origin)) {
		err("%s: its backup job's origin %s is not %s", v->name, c->origin,
		    v->hidden);
		return true;
	}
	if (!job_status(v, s, NULL))
		return true;
	if (!c->meta[0] || !c->track || !job_tracks(s)) {
		err("%s: its backup job (%s) does not track changes (it was started "
		    "without --meta --track): an increment needs the record a "
		    "tracking job keeps; finish it and start one with --track",
		    v->name, s->uuid[0] ? s->uuid : s->state);
		return true;
	}
	if (!job_ended(s)) {
		err("%s: its backup job %s has not completed (state %s, %"
		    PRIu64 "/%" PRIu64 " chunks): an increment continues a "
		    "complete backup; wait for it (dmbackup wait %s)%s",
		    v->name, s->uuid, s->state, s->copied, s->total, v->name,
		    a->or_full ? "; --or-full does not replace a job that may "
		    "still complete: wait for it, or cancel it first (dmbackup "
		    "cancel)" : "");
		return true;
	}
	if (strcmp(s->state, "completed"))
		snprintf(c->why, sizeof(c->why), "its backup job %s %s (%"
			 PRIu64 "/%" PRIu64 " chunks copied): no complete "
			 "backup to make an increment of", s->uuid,
			 strcmp(s->state, "cancelled") ? "failed" :
			 "was cancelled", s->copied, s->total);
	else if (!strcmp(s->changed, "lost"))
		snprintf(c->why, sizeof(c->why), "job %s lost its record of "
			 "changes (its metadata device stalled or failed "
			 "while writes went on): the chunks written since are "
			 "unknown", s->uuid);
	if (c->why[0] && !a->or_full) {
		err("%s: %s; no increment can be made: add --or-full to start "
		    "a full backup that tracks changes instead (dmbackup "
		    "start --incremental %s --or-full)", v->name, c->why,
		    v->name);
		return true;
	}
	if (v->info.suspended) {
		err("%s is suspended: resume it first", v->name);
		return true;
	}
	if (v->info.inactive_table) {
		err("%s has an inactive table loaded (another tool is changing it): "
		    "clear it first (dmsetup clear %s)", v->name, v->name);
		return true;
	}
	if (!dev_node(c->meta, c->meta_path, sizeof(c->meta_path))) {
		err("%s: cannot find a node of its metadata device %s", v->name,
		    c->meta);
		return true;
	}
	if (bdev_arg) {
		uint64_t bytes;
		int fd;

		if (stat(bdev_arg, &st) || !S_ISBLK(st.st_mode)) {
			err("backup device %s is not a block device", bdev_arg);
			return true;
		}
		if (major(st.st_rdev) == v->info.major &&
		    minor(st.st_rdev) == v->info.minor) {
			err("backup device %s is the volume itself", bdev_arg);
			return true;
		}
		fd = open(bdev_arg, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes)) {
			err("backup device %s: %s", bdev_arg, strerror(errno));
			if (fd >= 0)
				close(fd);
			return true;
		}
		close(fd);
		if (bytes / 512 < table_len(&c->live)) {
			err("backup device %s is too small: %" PRIu64 " sectors, the "
			    "volume has %" PRIu64, bdev_arg, bytes / 512,
			    table_len(&c->live));
			return true;
		}
		snprintf(c->backup, sizeof(c->backup), "%u:%u", major(st.st_rdev),
			 minor(st.st_rdev));
	}
	if (c->why[0])
		snprintf(c->params, sizeof(c->params), "%s %s full %d%s meta "
			 "%s track on", c->origin, c->backup, c->nopts + 4,
			 c->opts, c->meta);
	else
		snprintf(c->params, sizeof(c->params), "%s %s top %d%s meta %s "
			 "track on increment %s", c->origin, c->backup,
			 c->nopts + 6, c->opts, c->meta, s->uuid);
	return false;
}

/* ---- the steps ----------------------------------------------------------- */

/* Step "inc-load": the increment table into the volume's inactive slot. */
static bool load_run(void *ctx)
{
	struct inc *c = ctx;
	struct target t = { 0, table_len(&c->live), "backup", c->params };
	struct table tb = { 1, &t };

	return load_table(c->v.name, &tb, c->v.info.read_only);
}

static bool load_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot load the increment table '0 %" PRIu64 " backup %s' into %s "
	    "(the kernel log says why); the tracking job goes on unchanged",
	    table_len(&c->live), c->params, c->v.name);
	return true;
}

static bool load_undo(void *ctx)
{
	struct inc *c = ctx;

	simple_op(DM_DEVICE_CLEAR, c->v.name);
	return true;
}

/* Step "inc-suspend": flushes and freezes the file system on the volume. */
static bool suspend_run(void *ctx)
{
	struct inc *c = ctx;

	return suspend_volume(c->v.name);
}

static bool suspend_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot suspend %s; the tracking job goes on unchanged", c->v.name);
	return true;
}

/*
 * untracked_back - neither the tracking job's table nor the increment's
 * resumes: the kernel refuses both while its metadata device does not
 * answer (a failed resume swapped the increment's table in, and the
 * tracking job's table went).  The volume must not stay suspended: its
 * original table (the hidden device's) goes back, as finish
 * --stop-tracking leaves it, and the record is lost (the kernel marks it
 * so once the device answers).
 */
static bool put_table_back(struct inc *c, const struct table *tb,
			   bool want_backup);

static bool untracked_back(struct inc *c)
{
	struct table orig;
	bool ok;

	if (!read_table(c->v.hidden, DM_DEVICE_TABLE, &orig)) {
		err("RESTORE FAILED: cannot read %s's table; %s is suspended "
		    "(dmsetup info %s)", c->v.hidden, c->v.name, c->v.name);
		return false;
	}
	ok = put_table_back(c, &orig, false);
	table_free(&orig);
	if (!ok)
		return false;	/* put_table_back() said what to do */
	c->untracked = true;
	err("%s: neither its tracking job's table nor the increment's resumes "
	    "(does its metadata device %s answer? the kernel log says): it goes "
	    "on with its original table, its record of changes lost; once the "
	    "device answers, start a full backup (dmbackup start %s "
	    "<backup_device> --meta %s --track --force)", c->v.name,
	    c->meta_path, c->v.name, c->meta_path);
	if (!simple_op(DM_DEVICE_REMOVE, c->v.hidden))
		err("%s could not be removed: dmsetup remove %s", c->v.hidden,
		    c->v.hidden);
	jobconf_remove(c->v.name);
	return true;
}

/*
 * Clear the loaded table first, or the resume would swap it in; if the
 * volume stays suspended, untracked_back().
 */
static bool suspend_undo(void *ctx)
{
	struct inc *c = ctx;
	struct dm_info info;

	simple_op(DM_DEVICE_CLEAR, c->v.name);
	if (!get_info(c->v.name, &info) || !info.suspended ||
	    simple_op(DM_DEVICE_RESUME, c->v.name))
		return true;
	return untracked_back(c);
}

/*
 * Step "inc-resume": the point in time.  A failed resume may have swapped
 * the increment in all the same: then the increment is the job (the
 * metadata holds it, and the tracking job cannot come back); the undo of
 * suspend resumes whichever table is live.
 */
static bool resume_run(void *ctx)
{
	struct inc *c = ctx;

	return simple_op(DM_DEVICE_RESUME, c->v.name);
}

static bool resume_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot resume %s with the increment table", c->v.name);
	return true;
}

static const struct step inc_steps[] = {
	{ .name = "inc-load", .run = load_run, .failed = load_failed,
	  .undo = load_undo },
	{ .name = "inc-suspend", .run = suspend_run, .failed = suspend_failed,
	  .undo = suspend_undo },
	{ .name = "inc-resume", .run = resume_run, .failed = resume_failed },
};

/* ---- --or-full: a full backup instead ------------------------------------ */

/*
 * When no exact increment can be made (the tracking job failed, was
 * cancelled or lost its record), --or-full replaces the job with a new
 * full backup that tracks changes, over the same hidden origin, with the
 * same metadata device and options.  The kernel cannot switch from the old
 * job to a new one on the same metadata device in one resume: a table on
 * the same origin and backup device takes the old job over, and the
 * metadata device holds the old job until it is wiped, which must not
 * happen while the old table may still write it.  So the old job's table
 * is retired first (a linear table over the hidden origin, one
 * suspend/resume: the volume's data are unchanged, and nothing holds the
 * metadata device), the metadata the old job left is saved, its
 * superblocks wiped, and the full job loaded and switched in with a second
 * suspend/resume, the new point in time.  Each step has its undo: the
 * saved metadata is written back and the old table loaded again, which
 * continues the old job as it was (ended, or with its record lost: what
 * was written meanwhile it would not have recorded anyway).
 */

/* put_table_back - @tb is live again, unless it is: load, suspend, resume. */
static bool put_table_back(struct inc *c, const struct table *tb,
			   bool want_backup)
{
	struct dm_info info;
	struct table now;
	bool is_backup;

	if (!read_table(c->v.name, DM_DEVICE_TABLE, &now))
		return false;
	is_backup = backup_target(&now) >= 0;
	table_free(&now);
	/* Only a table we loaded can be in the inactive slot: it goes. */
	if (is_backup == want_backup)
		return unsuspend_unchanged(c->v.name);
	if (!load_table(c->v.name, tb, c->v.info.read_only) ||
	    !get_info(c->v.name, &info) ||
	    (!info.suspended && !suspend_volume(c->v.name)) ||
	    !simple_op(DM_DEVICE_RESUME, c->v.name)) {
		err("RESTORE FAILED: %s may be suspended or hold a wrong "
		    "table: check it with dmsetup info/table; its tracking "
		    "job's table was '0 %" PRIu64 " backup %s'", c->v.name,
		    table_len(&c->live), c->live.t[0].params);
		return false;
	}
	return true;
}

/* The linear table over the hidden origin that retires a job's table. */
static bool put_linear(struct inc *c)
{
	char params[32];
	struct target t = { 0, table_len(&c->live), "linear", params };
	struct table tb = { 1, &t };

	snprintf(params, sizeof(params), "%s 0", c->origin);
	return put_table_back(c, &tb, false);
}

/* The old tracking job's table, which continues its job from its metadata. */
static bool put_tracker(struct inc *c)
{
	return put_table_back(c, &c->live, true);
}

/* Step "full-retire": the linear table in place of the tracking job's. */
static bool retire_run(void *ctx)
{
	return put_linear(ctx);
}

static bool retire_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot switch %s from its tracking job to a linear table over %s; "
	    "putting the tracking job back", c->v.name, c->v.hidden);
	return put_tracker(c);
}

static bool retire_undo(void *ctx)
{
	return put_tracker(ctx);
}

/*
 * Step "full-save": the metadata the old job left, all of it that a
 * tracking job uses (superblocks and four bitmap areas), read now that no
 * table writes it, for the undo of the wipe.
 */
static bool save_run(void *ctx)
{
	struct inc *c = ctx;
	uint64_t bytes;
	char why[256];
	struct meta_job j;
	ssize_t got;
	int fd;

	if (meta_read(c->meta_path, &j, why, sizeof(why)) != META_JOB) {
		err("%s: cannot read the tracking job's metadata: %s",
		    c->meta_path, why);
		return false;
	}
	fd = meta_open(c->meta_path, O_RDONLY);
	if (fd < 0 || !device_bytes(fd, &bytes)) {
		err("%s: %s", c->meta_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	c->saved_len = meta_min_bytes(j.nr_chunks, true);
	if (c->saved_len > bytes)
		c->saved_len = bytes & ~(uint64_t)(MD_BLOCK_SIZE - 1);
	if (posix_memalign(&c->saved, MD_BLOCK_SIZE, c->saved_len)) {
		c->saved = NULL;
		close(fd);
		return false;
	}
	got = pread(fd, c->saved, c->saved_len, 0);
	close(fd);
	if (got != (ssize_t)c->saved_len) {
		err("%s: cannot read its first %zu bytes: %s", c->meta_path,
		    c->saved_len, got < 0 ? strerror(errno) : "short read");
		return false;
	}
	return true;
}

/* write_meta - @len bytes of @buf at offset 0 of the metadata device. */
static bool write_meta(struct inc *c, const void *buf, size_t len)
{
	int fd = meta_open(c->meta_path, O_WRONLY);
	bool ok;

	if (fd < 0) {
		err("%s: %s", c->meta_path, strerror(errno));
		return false;
	}
	ok = pwrite(fd, buf, len, 0) == (ssize_t)len && !fsync(fd);
	if (!ok)
		err("%s: cannot write it: %s", c->meta_path, strerror(errno));
	if (close(fd))
		ok = false;
	return ok;
}

/*
 * Step "full-wipe": zero both superblocks, so that the full job's table
 * starts a new job there (start --meta --force does the same).
 */
static bool wipe_run(void *ctx)
{
	struct inc *c = ctx;
	void *zero;
	bool ok;

	if (posix_memalign(&zero, MD_BLOCK_SIZE, 2 * MD_BLOCK_SIZE))
		return false;
	memset(zero, 0, 2 * MD_BLOCK_SIZE);
	ok = write_meta(c, zero, 2 * MD_BLOCK_SIZE);
	free(zero);
	return ok;
}

/*
 * The old job's metadata back, also over what a full job wrote of its own;
 * after a failed wipe too, which may have zeroed one superblock.
 */
static bool wipe_undo(void *ctx)
{
	struct inc *c = ctx;

	if (write_meta(c, c->saved, c->saved_len))
		return true;
	err("RESTORE FAILED: the metadata of the tracking job could not be "
	    "written back to %s: %s keeps a linear table over %s; start a full "
	    "backup by hand (dmbackup finish --stop-tracking %s, then dmbackup "
	    "start %s <backup_device> --meta %s --track --force)", c->meta_path,
	    c->v.name, c->v.hidden, c->v.name, c->v.name, c->meta_path);
	return false;
}

/* Step "full-load": the full job's table into the inactive slot. */
static bool full_load_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot load the full backup's table '0 %" PRIu64 " backup %s' "
	    "into %s (the kernel log says why)", table_len(&c->live),
	    c->params, c->v.name);
	return true;
}

/*
 * Step "full-resume": the point in time of the full job.  If it fails, or
 * a later step does, after the full job's table went in, the linear table
 * goes back (retiring the full job before its metadata is restored).
 */
static bool full_resume_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot resume %s with the full backup's table", c->v.name);
	return put_linear(c);
}

static bool full_resume_undo(void *ctx)
{
	return put_linear(ctx);
}

/* Step "full-resume-after": a checkpoint for the selftests. */
static bool full_resume_after_failed(void *ctx)
{
	struct inc *c = ctx;

	err("cannot resume %s with the full backup's table", c->v.name);
	return true;
}

/*
 * The steps of --or-full.  Their names are the DMBACKUP_FAIL_AT names of
 * the selftests (test_49).  full-load, full-suspend and full-resume are
 * the increment's own load, suspend and resume, with the full table.
 */
static const struct step full_steps[] = {
	{ .name = "full-retire", .run = retire_run, .failed = retire_failed,
	  .undo = retire_undo },
	{ .name = "full-save", .run = save_run },
	{ .name = "full-wipe", .run = wipe_run, .failed = wipe_undo,
	  .undo = wipe_undo },
	{ .name = "full-load", .run = load_run, .failed = full_load_failed,
	  .undo = load_undo },
	{ .name = "full-suspend", .run = suspend_run, .failed = suspend_failed,
	  .undo = suspend_undo },
	{ .name = "full-resume", .run = resume_run,
	  .failed = full_resume_failed, .undo = full_resume_undo },
	{ .name = "full-resume-after", .failed = full_resume_after_failed },
};

/* ---- the command --------------------------------------------------------- */

/*
 * say_increment - the new job as the kernel and its metadata report it;
 * false if the increment is not the volume's job (the resume kept the
 * tracking job's table).
 */
/*
 * save_jobconf - remember the increment for dmbackup reinstate.  The paths
 * the user gave start --track (or this command) stay: a /dev/dm-N or
 * /dev/loopN found in sysfs may name another device after a reboot.
 */
static void save_jobconf(struct inc *c, const char *bdev_arg)
{
	const char *meta = c->meta_path, *backup = bdev_arg;
	char cpath[4096], bpath[288];
	struct jobconf old;

	snprintf(cpath, sizeof(cpath), "%s/%s.conf", jobconf_dir(), c->v.name);
	if (!access(cpath, R_OK) && jobconf_load(cpath, &old)) {
		meta = old.meta;
		if (!backup)
			backup = old.backup;
	}
	if (!backup && dev_node(c->backup, bpath, sizeof(bpath)))
		backup = bpath;
	if (backup)
		jobconf_save(c->v.name, meta, backup,
			     strchr(strchr(c->params, ' ') + 1, ' ') + 1);
}

static bool say_increment(struct inc *c, const char *parent,
			  const struct inc_args *a, const char *bdev_arg)
{
	char why[512], pit[48], b[32];
	struct meta_job j;
	struct bstatus s;

	if (!job_status(&c->v, &s, NULL) || !strcmp(s.uuid, parent)) {
		err("%s: the increment did not start; job %s goes on", c->v.name,
		    parent);
		return false;
	}
	if (meta_read(c->meta_path, &j, why, sizeof(why)) != META_JOB) {
		err("%s: increment %s started, but its metadata %s cannot be read: "
		    "%s", c->v.name, s.uuid, c->meta_path, why);
		return false;
	}
	meta_pit_str(j.pit_ns, pit, sizeof(pit));
	/* --list -: standard output is the list alone. */
	fprintf(a->list && !strcmp(a->list, "-") ? stderr : stdout,
		"%s: increment %s of job %s started: point in time %s, copying %"
		PRIu64 " chunks (%s) to %s\n", c->v.name, s.uuid, parent, pit,
		s.total, human(s.total * s.chunk_sectors * 512.0, b, sizeof(b)),
		bdev_arg ? bdev_arg : c->backup);
	save_jobconf(c, bdev_arg);
	return !a->list ||
	       meta_list_file(a->list, c->meta_path, &j, MD_BITMAP_MAP);
}

/* say_to - where the report goes: --list - makes standard output the list. */
static FILE *say_to(const struct inc_args *a)
{
	return a->list && !strcmp(a->list, "-") ? stderr : stdout;
}

/*
 * list_whole - --list FILE of a full backup: one range, the whole volume
 * of @bytes; FILE "-" is standard output.  Like meta_list_file(), a file
 * it could not write whole is removed.
 */
static bool list_whole(const char *file, uint64_t bytes)
{
	bool out = !strcmp(file, "-");
	FILE *f = out ? stdout : fopen(file, "w");
	bool ok;

	if (!f) {
		err("--list %s: %s", file, strerror(errno));
		return false;
	}
	ok = fprintf(f, "0 %" PRIu64 "\n", bytes) > 0;
	if ((out ? fflush(f) : fclose(f)) || !ok) {
		err("--list %s: %s", file, strerror(errno));
		if (!out)
			unlink(file);
		return false;
	}
	return true;
}

/*
 * say_full - --or-full: the full job as the kernel and its metadata report
 * it; --list FILE: the whole volume, one range.  False if the old job is
 * still the volume's.
 */
static bool say_full(struct inc *c, const char *old,
		     const struct inc_args *a, const char *bdev_arg)
{
	char why[512], pit[48], b[32], node[288];
	struct meta_job j;
	struct bstatus s;

	if (!job_status(&c->v, &s, NULL) || !strcmp(s.uuid, old)) {
		err("%s: the full backup did not start; job %s goes on",
		    c->v.name, old);
		return false;
	}
	if (meta_read(c->meta_path, &j, why, sizeof(why)) != META_JOB) {
		err("%s: full backup %s started, but its metadata %s cannot be "
		    "read: %s", c->v.name, s.uuid, c->meta_path, why);
		return false;
	}
	meta_pit_str(j.pit_ns, pit, sizeof(pit));
	if (bdev_arg)
		snprintf(node, sizeof(node), "%s", bdev_arg);
	else if (!dev_node(c->backup, node, sizeof(node)))
		snprintf(node, sizeof(node), "%s", c->backup);
	fprintf(say_to(a), "%s: full backup %s started in place of job %s: "
		"point in time %s, copying %" PRIu64 " chunks (%s) to %s, "
		"tracking changes\n", c->v.name, s.uuid, old, pit, s.total,
		human(table_len(&c->live) * 512.0, b, sizeof(b)), node);
	save_jobconf(c, bdev_arg);
	return !a->list || list_whole(a->list, table_len(&c->live) * 512);
}

/*
 * or_full - --or-full, when no exact increment can be made: say so and
 * why, then replace the tracking job with a full one (full_steps).
 */
static int or_full(struct inc *c, const struct bstatus *s,
		   const struct inc_args *a, const char *bdev_arg)
{
	fprintf(say_to(a), "%s: no increment can be made: %s; falling back to "
		"a full backup (--or-full)\n", c->v.name, c->why);
	fflush(NULL);
	switch (run_steps(full_steps, ARRAY_SIZE(full_steps), c)) {
	case STEPS_DONE:
		return say_full(c, s->uuid, a, bdev_arg) ? EX_OK : EX_ERR;
	case STEPS_UNDONE:
		err("%s: the full backup did not start; job %s is the "
		    "volume's job as it was", c->v.name, s->uuid);
		break;
	case STEPS_UNDO_FAILED:
		break;		/* the undo said what to do */
	}
	return EX_ERR;
}

int cmd_incremental(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "incremental", no_argument, NULL, OPT_INCREMENTAL },
		{ "list", required_argument, NULL, OPT_LIST },
		{ "speed", required_argument, NULL, OPT_SPEED },
		{ "or-full", no_argument, NULL, OPT_OR_FULL },
		{ NULL, 0, NULL, 0 }
	};
	struct inc_args a = { 0 };
	struct cmd_line cl = {
		.name = "start --incremental", .usage = incremental_usage,
		.opts = opts, .min_pos = 1, .max_pos = 2, .opt = inc_opt,
		.ctx = &a,
	};
	struct inc c = { 0 };
	struct bstatus s;
	const char *bdev_arg;
	int r;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	bdev_arg = cl.npos > 1 ? cl.pos[1] : NULL;
	if (!resolve_volume(cl.pos[0], &c.v))
		return EX_ERR;
	r = EX_ERR;
	if (inc_refuses(&c, bdev_arg, &a, &s))
		goto out;
	if (c.why[0]) {
		r = or_full(&c, &s, &a, bdev_arg);
		goto out;
	}
	switch (run_steps(inc_steps, ARRAY_SIZE(inc_steps), &c)) {
	case STEPS_DONE:
		if (say_increment(&c, s.uuid, &a, bdev_arg))
			r = EX_OK;
		break;
	case STEPS_UNDONE: {
		struct bstatus now;

		/* A resume that failed may have swapped the increment in. */
		if (c.untracked)
			break;	/* untracked_back() said what happened */
		if (job_status(&c.v, &now, NULL) && strcmp(now.uuid, s.uuid))
			err("%s: the increment %s is the volume's job all the same "
			    "(the resume swapped it in)", c.v.name, now.uuid);
		else
			err("%s: job %s goes on unchanged", c.v.name, s.uuid);
		break;
	}
	case STEPS_UNDO_FAILED:
		break;		/* the undo said what to do */
	}
out:
	table_free(&c.live);
	free(c.saved);
	return r;
}
