// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup start: stack a backup job over a live volume, the way LVM stacks
 * a snapshot.  The volume's current table moves to a hidden device
 * "<name>-dmbackup-origin", and a "backup" table over the hidden device is
 * switched in under the volume's own name in one suspend/resume: that
 * resume is the point in time.  Every failure leaves the volume as it was.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dmbackup.h"

/* ---- start -------------------------------------------------------------- */

/*
 * check_dev - refuse a backup (or metadata, @role) device that is not a
 * block device, is the volume, is smaller than @need sectors, or is in use
 * (holders, mounted, opened exclusively).  Returns its dev_t and size.
 */
static bool check_dev(const char *role, const char *path, const struct volume *v,
		      uint64_t need, dev_t *devp, uint64_t *bytesp)
{
	char buf[512], line[4096];
	struct dirent *de;
	struct stat st;
	uint64_t bytes;
	DIR *d;
	FILE *f;
	int fd;

	if (stat(path, &st)) {
		err("%s %s: %s", role, path, strerror(errno));
		return false;
	}
	if (!S_ISBLK(st.st_mode)) {
		err("%s %s is not a block device", role, path);
		return false;
	}
	*devp = st.st_rdev;
	if (major(st.st_rdev) == v->info.major && minor(st.st_rdev) == v->info.minor) {
		err("%s %s is the volume itself", role, path);
		return false;
	}
	snprintf(buf, sizeof(buf), "/sys/dev/block/%u:%u/holders",
		 major(st.st_rdev), minor(st.st_rdev));
	d = opendir(buf);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			err("%s %s is in use: held by %s (see %s)",
			    role, path, de->d_name, buf);
			closedir(d);
			return false;
		}
		closedir(d);
	}
	f = fopen("/proc/self/mountinfo", "r");
	if (f) {
		unsigned int ma, mi;
		char mnt[4096];

		while (fgets(line, sizeof(line), f)) {
			/* "id parent major:minor root mountpoint ..." */
			if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &ma, &mi, mnt) == 3 &&
			    ma == major(st.st_rdev) && mi == minor(st.st_rdev)) {
				err("%s %s is in use: mounted on %s", role, path, mnt);
				fclose(f);
				return false;
			}
		}
		fclose(f);
	}
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EBUSY)
			err("%s %s is in use (opened exclusively: mounted, "
			    "in a RAID or dm device, or by another program)", role, path);
		else
			err("%s %s: %s", role, path, strerror(errno));
		return false;
	}
	if (ioctl(fd, BLKGETSIZE64, &bytes)) {
		err("%s %s: cannot get its size: %s", role, path, strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	if (bytesp)
		*bytesp = bytes;
	if (bytes / 512 < need) {
		err("%s %s is too small: %" PRIu64 " sectors, the volume has %"
		    PRIu64, role, path, bytes / 512, need);
		return false;
	}
	return true;
}

/*
 * backup_dev_holds_data - like mkfs, refuse to write over what a backup
 * device holds (a file system, a RAID or LVM member, a partition table:
 * often the last good backup, which a failed new job would leave neither
 * of) unless @force.  True if start must stop.
 */
static bool backup_dev_holds_data(const char *path, bool force)
{
	char what[256], uuid[40];

	if (meta_signature(path, uuid) == SIG_FOUND) {
		if (force) {
			printf("%s holds dm-backup metadata (job %s): overwriting "
			       "it (--force)\n", path, uuid);
			return false;
		}
		err("backup device %s holds dm-backup metadata (job %s): it is "
		    "a persistent job's metadata device, not a backup; use --force "
		    "if you want to write a backup over it", path, uuid);
		return true;
	}
	switch (device_signature(path, what, sizeof(what))) {
	case SIG_NONE:
		return false;
	case SIG_FOUND:
		if (force) {
			printf("%s holds data (%s): overwriting it (--force)\n",
			       path, what);
			return false;
		}
		err("backup device %s holds data (%s), maybe the last good "
		    "backup: a new one there overwrites it; use --force if that "
		    "is what you want", path, what);
		return true;
	default:
		/* What cannot be read is no backup to keep; the job will tell. */
		err("warning: backup device %s: %s; starting anyway", path, what);
		return false;
	}
}

/*
 * resuspend_after_restore - start --suspended: swapping the original table
 * back in (only a resume swaps tables) let the writes the caller's suspend
 * held reach the volume.  Suspend it again, as the caller had it, but say
 * that its map no longer matches it.
 */
static void resuspend_after_restore(const struct volume *v)
{
	err("%s: putting its table back resumed it for a moment: what was written "
	    "since it was suspended is on it now, so a map computed while it was "
	    "suspended is out of date", v->name);
	if (fail_at("restore-suspend") || !suspend_volume(v->name))
		err("%s could not be suspended again", v->name);
}

static const char start_usage[] =
"usage: dmbackup start <volume> <backup_device> [<volume> <backup_device>...]\n"
"           [--mode full|none]\n"
"           [--mode top --map MAP_DEVICE] [--suspended] [--speed RATE]\n"
"           [--on-source-error report|ignore|stop]\n"
"           [--on-target-error report|ignore|stop|enospc]\n"
"           [--on-cbw-error break_backup|fail_write] [--chunk-size SECTORS]\n"
"           [--cbw-timeout MS] [--meta META_DEVICE [--track]] [--force]\n"
"       dmbackup start --incremental <volume> [<backup_device>] [options]\n"
"\n"
"Start a point-in-time backup of a live device-mapper volume (which may be\n"
"mounted and busy) to <backup_device>.  The volume's table moves to a hidden\n"
"device <name>" HIDDEN_SUFFIX " and a backup table over it is switched in\n"
"under the volume's name in one suspend/resume: that resume is the point in\n"
"time.  RATE is bytes per second with an optional K, M, G or T suffix\n"
"(powers of 1024), 0 for unlimited.  SECTORS: a power of two, 8 to 2048.\n"
"MS: the longest a write waits for its copy before the backup device counts\n"
"as stalled (milliseconds, 0 = no limit, default 30000; see on_cbw_error).\n"
"--mode none copies only what writes are about to change; --mode top copies\n"
"the chunks MAP_DEVICE marks (one bit per chunk, see dmbackup map).\n"
"--meta: a persistent job, whose state the kernel keeps on META_DEVICE: a\n"
"blank one starts a new job; one holding a running or paused job continues\n"
"it (same point in time, progress: see dmbackup info); one holding an ended\n"
"job or something else is refused unless --force, which wipes it.\n"
"--track (with --meta): the job records every chunk written since its point\n"
"in time, and stays under the volume after it completed, recording, so that\n"
"start --incremental copies only those (see dmbackup start --incremental\n"
"--help).  The metadata device then needs 8 KiB + 16 KiB per 32768 chunks.\n"
"--suspended: the caller suspended the volume (dmsetup suspend), e.g. to\n"
"compute the map while nothing writes; start does not suspend it, and its\n"
"resume, which puts the job in place, is the point in time.  Without\n"
"--suspended a suspended volume is refused, and with it one that is not.\n"
"Refuses a volume that is not a dm device or already has a backup job, and a\n"
"backup device that is too small or in use, or that holds a file system, a\n"
"RAID or LVM member or a partition table (maybe the last good backup) unless\n"
"--force is given (--mode top updates the last backup: not looked at).  On\n"
"any failure the volume is left exactly as it was; with --suspended, still\n"
"suspended.\n"
"Several pairs <volume> <backup_device> start a group (up to 8): one point\n"
"in time for all.  Every volume is suspended before any is resumed with its\n"
"job; a failure leaves every volume as it was.  The options apply to every\n"
"job; --meta, --map and --suspended are refused.  Refuses a volume named\n"
"twice, volumes stacked on each other, a shared backup device and a backup\n"
"device that is a volume of the group.  status, wait, pause, resume, cancel\n"
"and finish take the group's volumes.\n";

/* The options of start; NULL or 0: left out of the table (the default). */
struct start_args {
	const char *mode, *map, *src, *tgt, *cbw;
	const char *cbw_timeout;
	const char *meta;	/* --meta: the metadata device */
	uint64_t speed, chunk;
	bool suspended;		/* --suspended: the caller suspended the volume */
	bool force;		/* --force: write over a signature */
	bool track;		/* --track: table option "track on" */
};
static int start_opt(void *ctx, int key, const char *val)
{
	static const char *const src_pol[] = { "report", "ignore", "stop", NULL };
	static const char *const tgt_pol[] = { "report", "ignore", "stop", "enospc", NULL };
	static const char *const cbw_pol[] = { "break_backup", "fail_write", NULL };
	static const char *const modes[] = { "full", "top", "none", NULL };
	struct start_args *a = ctx;
	char *end;

	switch (key) {
	case OPT_MODE:
		return pick(&a->mode, "mode", val, modes, "full, top or none");
	case OPT_SRC:
		return pick(&a->src, "on-source-error", val, src_pol,
			    "report, ignore or stop");
	case OPT_TGT:
		return pick(&a->tgt, "on-target-error", val, tgt_pol,
			    "report, ignore, stop or enospc");
	case OPT_CBW:
		return pick(&a->cbw, "on-cbw-error", val, cbw_pol,
			    "break_backup or fail_write");
	case OPT_MAP:
		if (!*val || *val == '-')
			return bad_value("map", *val ? val : "''",
					 "not a map device (did losetup fail?)");
		a->map = val;
		break;
	case OPT_CBW_TIMEOUT:
		a->cbw_timeout = val;
		if (!*val || strspn(val, "0123456789") != strlen(val) ||
		    strlen(val) > 8 || strtoul(val, NULL, 10) > 86400000)
			return bad_value("cbw-timeout", val,
					 "milliseconds, 0 to 86400000");
		break;
	case OPT_META:
		if (!*val || *val == '-')
			return bad_value("meta", *val ? val : "''", "not a metadata device");
		a->meta = val;
		break;
	case OPT_SUSPENDED:
		a->suspended = true;
		break;
	case OPT_FORCE:
		a->force = true;
		break;
	case OPT_TRACK:
		a->track = true;
		break;
	case OPT_SPEED:
		if (!parse_rate(val, &a->speed))
			return bad_value("speed", val, "not a rate (e.g. 33554432, 32M, 1G)");
		break;
	case OPT_CHUNK:
		a->chunk = strtoull(val, &end, 10);
		if (*end || a->chunk < 8 || a->chunk > 2048 || (a->chunk & (a->chunk - 1)))
			return bad_value("chunk-size", val,
					 "a power of two from 8 to 2048 sectors");
		break;
	}
	return EX_OK;
}

/*
 * start_table_args - "<mode> [<#opt_args> <opt_arg>...]" of the backup
 * table, the optional arguments in the kernel's canonical order.
 */
static void start_table_args(const struct start_args *a, char *buf, size_t len)
{
	char opts[256] = "";
	int nopt = 0;

#define ADD_OPT(fmt, ...) do { \
		size_t l = strlen(opts); \
		snprintf(opts + l, sizeof(opts) - l, fmt, __VA_ARGS__); \
		nopt += 2; \
	} while (0)
	if (a->speed)
		ADD_OPT(" speed %" PRIu64, a->speed);
	if (a->chunk)
		ADD_OPT(" chunk_size %" PRIu64, a->chunk);
	if (a->src)
		ADD_OPT(" on_source_error %s", a->src);
	if (a->tgt)
		ADD_OPT(" on_target_error %s", a->tgt);
	if (a->cbw)
		ADD_OPT(" on_cbw_error %s", a->cbw);
	if (a->map)
		ADD_OPT(" map %s", a->map);
	if (a->cbw_timeout)
		ADD_OPT(" cbw_timeout %s", a->cbw_timeout);
	if (a->meta)
		ADD_OPT(" meta %s", a->meta);
	if (a->track)
		ADD_OPT(" track %s", "on");
#undef ADD_OPT
	if (nopt)
		snprintf(buf, len, "%s %d%s", a->mode, nopt, opts);
	else
		snprintf(buf, len, "%s", a->mode);
}

/*
 * say_restored - after a failed start: in which state the volume is left.
 * With --suspended it stays suspended (unless someone resumed it or it
 * could not be suspended again): the caller decides when writes resume.
 */
static void say_restored(const struct volume *v, bool came_suspended)
{
	struct dm_info info;

	if (!came_suspended)
		err("%s is restored as it was", v->name);
	else if (get_info(v->name, &info) && info.suspended)
		err("%s is restored: its original table, still suspended; run start "
		    "again, or resume it (dmsetup resume %s)", v->name, v->name);
	else
		err("%s is restored: its original table, but NOT suspended", v->name);
}

/* ---- the steps ----------------------------------------------------------- */

/* struct start - what the steps of a start share. */
struct start {
	struct volume v;
	const struct start_args *a;
	struct table orig;		/* the volume's table before the job */
	uint64_t size;			/* its length in sectors */
	dev_t bdev;			/* the backup device */
	char targs[384];		/* start_table_args() */
	char params[512];		/* the backup table's arguments */
	bool vanished;			/* the new hidden device went away */
	bool continuing;		/* --meta holds a running or paused job */
	bool wipe;			/* --force: wipe --meta's superblocks */
	char wipe_what[640];		/* what the wipe destroys */
	/* The resume was tried: the volume may have had the job for a moment. */
	bool resume_tried;
};

/*
 * Step "wipe-meta" (start --meta --force over an ended job or what is not
 * dm-backup metadata): zero both superblocks, so that the kernel formats
 * the device for a new job at the resume.  Not undone: --force said that
 * what was there may go.
 */
static bool wipe_meta_run(void *ctx)
{
	struct start *c = ctx;
	void *zero;
	int fd;
	bool ok;

	if (!c->wipe)
		return true;
	fd = meta_open(c->a->meta, O_WRONLY);
	if (fd < 0)
		return false;
	if (posix_memalign(&zero, MD_BLOCK_SIZE, 2 * MD_BLOCK_SIZE)) {
		close(fd);
		return false;
	}
	memset(zero, 0, 2 * MD_BLOCK_SIZE);
	ok = pwrite(fd, zero, 2 * MD_BLOCK_SIZE, 0) == 2 * MD_BLOCK_SIZE && !fsync(fd);
	free(zero);
	if (close(fd))
		ok = false;
	if (ok)
		printf("%s: wiped its superblocks (8 KiB at offset 0), which held "
		       "%s (--force)\n", c->a->meta, c->wipe_what);
	return ok;
}

static bool wipe_meta_failed(void *ctx)
{
	struct start *c = ctx;

	err("cannot wipe the superblocks of metadata device %s; %s is unchanged",
	    c->a->meta, c->v.name);
	return true;
}

/*
 * Step "create": the hidden device, with the volume's current table,
 * resumed; with its major:minor, the backup table's arguments.
 */
static bool create_run(void *ctx)
{
	struct start *c = ctx;
	struct dm_info hinfo;

	if (!create_dev(c->v.hidden, &c->orig, c->v.info.read_only, NULL))
		return false;
	if (!get_info(c->v.hidden, &hinfo) || !hinfo.exists) {
		err("%s vanished", c->v.hidden);
		c->vanished = true;
		return false;
	}
	snprintf(c->params, sizeof(c->params), "%u:%u %u:%u %s", hinfo.major,
		 hinfo.minor, major(c->bdev), minor(c->bdev), c->targs);
	return true;
}

static bool create_failed(void *ctx)
{
	struct start *c = ctx;

	if (c->vanished)
		return true;	/* said so; nothing of ours to remove */
	err("cannot create %s; %s is unchanged%s", c->v.hidden, c->v.name,
	    c->a->suspended ? " (still suspended)" : "");
	/* A create that fails after the device exists leaves it behind. */
	if (dev_exists(c->v.hidden))
		simple_op(DM_DEVICE_REMOVE, c->v.hidden);
	return true;
}

/*
 * The last undo: the hidden device goes, and the volume is as it was.  A
 * hidden device that cannot be removed is reported, but the volume itself
 * is restored, so the rollback counts as done.
 */
static bool create_undo(void *ctx)
{
	struct start *c = ctx;

	if (!simple_op(DM_DEVICE_REMOVE, c->v.hidden)) {
		if (c->resume_tried)
			err("%s is restored, but %s could not be removed",
			    c->v.name, c->v.hidden);
		else
			err("could not remove %s: remove it by hand", c->v.hidden);
		return true;
	}
	if (c->resume_tried || c->a->suspended)
		say_restored(&c->v, c->a->suspended);
	return true;
}

/* Step "load": the backup table into the volume's inactive slot. */
static bool load_run(void *ctx)
{
	struct start *c = ctx;
	struct target bkt = { 0, c->size, "backup", c->params };
	struct table bk = { 1, &bkt };

	return load_table(c->v.name, &bk, c->v.info.read_only);
}

static bool load_failed(void *ctx)
{
	struct start *c = ctx;

	err("cannot load the backup table '0 %" PRIu64 " backup %s' into %s "
	    "(the kernel log says why); %s is unchanged", c->size, c->params,
	    c->v.name, c->v.name);
	return true;
}

static bool load_undo(void *ctx)
{
	struct start *c = ctx;

	simple_op(DM_DEVICE_CLEAR, c->v.name);
	return true;
}

/*
 * Step "suspend": flushes and freezes the filesystem on the volume.  Its
 * undo resumes the old table: the loaded one is cleared first, or the
 * resume would swap it in (load's undo, which comes after, finds the slot
 * empty).
 */
static bool suspend_run(void *ctx)
{
	struct start *c = ctx;

	return suspend_volume(c->v.name);
}

static bool suspend_failed(void *ctx)
{
	struct start *c = ctx;

	err("cannot suspend %s; it is unchanged", c->v.name);
	return true;
}

static bool suspend_undo(void *ctx)
{
	struct start *c = ctx;
	struct dm_info info;

	simple_op(DM_DEVICE_CLEAR, c->v.name);
	if (get_info(c->v.name, &info) && info.suspended)
		return simple_op(DM_DEVICE_RESUME, c->v.name);
	return true;
}

/*
 * Step "still-suspended" (--suspended, instead of "suspend"): the caller's
 * suspend still holds.  If someone resumed the volume meanwhile, writes
 * since the caller's map would be missing from the backup (and the resume
 * below would suspend the volume itself).  Nothing to undo: whose suspend
 * it is, only the caller knows, so it stays.
 */
static bool still_suspended_run(void *ctx)
{
	struct start *c = ctx;
	struct dm_info info;

	return get_info(c->v.name, &info) && info.suspended;
}

static bool still_suspended_failed(void *ctx)
{
	struct start *c = ctx;

	err("%s was resumed since it was suspended (by someone else?): "
	    "what was written since may be missing from the map; "
	    "not starting", c->v.name);
	return true;
}

/*
 * put_original_back - if the backup table is live (a resume swapped it
 * in), load the original table back and resume with it; with --suspended,
 * suspend the volume again, as the caller gave it to us.  If the old table
 * is still live, there is nothing to do here: the undos of load and
 * suspend clear the loaded table and resume.
 */
static bool put_original_back(struct start *c)
{
	struct dm_info info;
	struct table live;
	bool swapped, ok;

	if (!read_table(c->v.name, DM_DEVICE_TABLE, &live))
		return false;
	swapped = backup_target(&live) >= 0;
	table_free(&live);
	if (!swapped)
		return true;
	ok = load_table(c->v.name, &c->orig, c->v.info.read_only);
	if (ok && get_info(c->v.name, &info) && !info.suspended)
		ok = suspend_volume(c->v.name);
	if (!ok || !simple_op(DM_DEVICE_RESUME, c->v.name))
		return false;
	if (c->a->suspended)
		resuspend_after_restore(&c->v);
	return true;
}

/*
 * Step "resume": swaps the backup table in.  The point in time.  A resume
 * that fails may have swapped the table all the same; one that succeeded
 * and is undone (a later step failed) has: either way the volume gets its
 * original table back.
 */
static bool resume_run(void *ctx)
{
	struct start *c = ctx;

	return simple_op(DM_DEVICE_RESUME, c->v.name);
}

static bool resume_failed(void *ctx)
{
	struct start *c = ctx;

	c->resume_tried = true;
	err("cannot resume %s with the backup table; restoring it", c->v.name);
	return put_original_back(c);
}

static bool resume_undo(void *ctx)
{
	return put_original_back(ctx);
}

/*
 * Step "resume-after": a checkpoint for the selftests, where the resume
 * succeeded and then "failed"; resume's undo restores the volume.
 */
static bool resume_after_failed(void *ctx)
{
	struct start *c = ctx;

	c->resume_tried = true;
	err("cannot resume %s with the backup table; restoring it", c->v.name);
	return true;
}

/*
 * The steps of start, in order.  Their names are the DMBACKUP_FAIL_AT
 * names of the selftests (test_56, test_62).
 */
static const struct step start_steps[] = {
	{ .name = "wipe-meta", .run = wipe_meta_run, .failed = wipe_meta_failed },
	{ .name = "create", .run = create_run, .failed = create_failed,
	  .undo = create_undo },
	{ .name = "load", .run = load_run, .failed = load_failed,
	  .undo = load_undo },
	{ .name = "suspend", .run = suspend_run, .failed = suspend_failed,
	  .undo = suspend_undo },
	{ .name = "resume", .run = resume_run, .failed = resume_failed,
	  .undo = resume_undo },
	{ .name = "resume-after", .failed = resume_after_failed },
};

/* --suspended: the caller's suspend, checked, instead of our own. */
static const struct step start_suspended_steps[] = {
	{ .name = "wipe-meta", .run = wipe_meta_run, .failed = wipe_meta_failed },
	{ .name = "create", .run = create_run, .failed = create_failed,
	  .undo = create_undo },
	{ .name = "load", .run = load_run, .failed = load_failed,
	  .undo = load_undo },
	{ .name = "still-suspended", .run = still_suspended_run,
	  .failed = still_suspended_failed },
	{ .name = "resume", .run = resume_run, .failed = resume_failed,
	  .undo = resume_undo },
	{ .name = "resume-after", .failed = resume_after_failed },
};

/* say_job - after start --meta: the job's uuid, as the kernel reports it. */
static void say_job(const struct volume *v, const char *meta)
{
	struct bstatus s;

	if (job_status(v, &s, NULL) && s.uuid[0])
		printf("%s: job %s, %s on %s\n", v->name, s.uuid, s.persistence, meta);
}

/* say_restore_failed - the rollback failed: what to do by hand. */
static void say_restore_failed(const struct start *c)
{
	const struct table *o = &c->orig;

	err("RESTORE FAILED: %s may still be suspended.  By hand:", c->v.name);
	for (int i = 0; i < o->n; i++)
		fprintf(stderr, "  dmsetup load %s --table '%" PRIu64 " %" PRIu64
			" %s %s'\n", c->v.name, o->t[i].start, o->t[i].len,
			o->t[i].type, o->t[i].params);
	fprintf(stderr, "  dmsetup resume %s\n  dmsetup remove %s\n",
		c->v.name, c->v.hidden);
}

/* ---- the command --------------------------------------------------------- */

/* table_maps - a target of @tb names device @dev ("major:minor"). */
static bool table_maps(const struct table *tb, dev_t dev)
{
	for (int i = 0; i < tb->n; i++) {
		const char *p = tb->t[i].params;

		while (*p) {
			unsigned int ma, mi;
			int n = 0;

			if (sscanf(p, "%u:%u%n", &ma, &mi, &n) == 2 &&
			    (!p[n] || p[n] == ' ') && ma == major(dev) && mi == minor(dev))
				return true;
			p += strcspn(p, " ");
			p += strspn(p, " ");
		}
	}
	return false;
}

/*
 * meta_refuses - start --meta: refuse a metadata device that is the volume,
 * the origin, the backup or map device, in use, or too small; then what it
 * holds decides: nothing (its superblocks all zeroes) is a new job (refused
 * if libblkid finds a signature, unless --force); a running or paused job
 * is continued (it must be this volume's); an ended job, corrupt metadata or
 * other data are refused unless --force, which wipes the superblocks (step
 * wipe-meta).  @bbytes: the backup device's size.  True if start must stop.
 */
static bool meta_refuses(struct start *c, uint64_t bbytes)
{
	const struct start_args *a = c->a;
	uint64_t chunk = a->chunk ? a->chunk : 128, nr_chunks, need, bytes;
	char why[512], what[256], uuid[40], pit[48];
	struct meta_job j;
	struct stat st;
	dev_t mdev;

	if (!stat(a->meta, &st) && S_ISBLK(st.st_mode)) {
		if (st.st_rdev == c->bdev) {
			err("metadata device %s is the backup device", a->meta);
			return true;
		}
		if (table_maps(&c->orig, st.st_rdev)) {
			err("metadata device %s is the origin: the volume's table "
			    "maps it", a->meta);
			return true;
		}
		mdev = st.st_rdev;
		if (a->map && !stat(a->map, &st) && S_ISBLK(st.st_mode) &&
		    st.st_rdev == mdev) {
			err("metadata device %s is the map device", a->meta);
			return true;
		}
	}
	if (!check_dev("metadata device", a->meta, &c->v, 0, &mdev, &bytes))
		return true;
	nr_chunks = (c->size + chunk - 1) / chunk;
	need = meta_min_bytes(nr_chunks, a->track);
	if (bytes < need) {
		err("metadata device %s is too small: %" PRIu64 " bytes; a job of %"
		    PRIu64 " chunks needs at least %" PRIu64 " bytes (%" PRIu64
		    " KiB: two superblocks, %s bitmaps)", a->meta, bytes, nr_chunks,
		    need, need / 1024, a->track ? "four (--track)" : "two");
		return true;
	}
	switch (meta_read(a->meta, &j, why, sizeof(why))) {
	case META_IOERR:
		err("metadata device %s: %s", a->meta, why);
		return true;
	case META_EMPTY:
		switch (device_signature(a->meta, what, sizeof(what))) {
		case SIG_FOUND:
			if (a->force) {
				printf("%s holds data (%s): a new job overwrites it "
				       "(--force)\n", a->meta, what);
				return false;
			}
			err("metadata device %s holds data (%s): a new job there "
			    "overwrites it; use --force if that is what you want",
			    a->meta, what);
			return true;
		case SIG_ERROR:
			err("warning: metadata device %s: %s; starting anyway",
			    a->meta, what);
			return false;
		default:
			return false;
		}
	case META_CORRUPT:
		if (device_signature(a->meta, what, sizeof(what)) == SIG_FOUND)
			snprintf(c->wipe_what, sizeof(c->wipe_what), "data (%s), not "
				 "dm-backup metadata", what);
		else
			snprintf(c->wipe_what, sizeof(c->wipe_what), "corrupt "
				 "dm-backup metadata (%s)", why);
		if (!a->force) {
			err("metadata device %s holds %s: use --force to wipe it and "
			    "start a new job", a->meta, c->wipe_what);
			return true;
		}
		c->wipe = true;
		return false;
	case META_JOB:
		break;
	}
	meta_uuid_str(j.uuid, uuid);
	meta_pit_str(j.pit_ns, pit, sizeof(pit));
	if (meta_job_ended(&j)) {
		if (!a->force) {
			err("metadata device %s holds job %s, which has ended (state "
			    "%s, point in time %s): use --force to wipe it and start "
			    "a new job", a->meta, uuid, meta_state_name(j.state), pit);
			return true;
		}
		snprintf(c->wipe_what, sizeof(c->wipe_what), "job %s (%s)",
			 uuid, meta_state_name(j.state));
		c->wipe = true;
		return false;
	}
	/* The kernel refuses a job that is not this table's: say why first. */
	if (j.origin_sectors != c->size || j.chunk_sectors != chunk ||
	    strcmp(meta_mode_name(j.sync_mode), a->mode) ||
	    j.backup_sectors != bbytes / 512) {
		err("metadata device %s holds job %s (%s) of another volume or "
		    "start: %" PRIu64 " sectors, --chunk-size %" PRIu32 ", --mode "
		    "%s, a backup device of %" PRIu64 " sectors (here: %" PRIu64
		    ", %" PRIu64 ", %s, %" PRIu64 ")", a->meta, uuid,
		    meta_state_name(j.state), j.origin_sectors, j.chunk_sectors,
		    meta_mode_name(j.sync_mode), j.backup_sectors, c->size, chunk,
		    a->mode, bbytes / 512);
		return true;
	}
	printf("continuing job %s (point in time %s, %" PRIu64 "/%" PRIu64
	       " chunks)\n", uuid, pit, j.copied, j.total);
	c->continuing = true;
	return false;
}

/*
 * start_refuses - the refusals of start, before anything is changed; reads
 * the volume's table into @c->orig (which the caller frees either way).
 */
static bool start_refuses(struct start *c, const char *bdev_arg)
{
	struct volume *v = &c->v;
	uint64_t bbytes;

	if (!v->info.live_table) {
		err("%s has no live table", v->name);
		return true;
	}
	/*
	 * Whose suspend it is, only the caller knows: resuming someone else's
	 * (an LVM command's, another backup's) would let writes through that
	 * it holds back on purpose.
	 */
	if (v->info.suspended && !c->a->suspended) {
		err("%s is suspended: resume it first, or, if you suspended it for "
		    "this job (to compute its map), pass --suspended", v->name);
		return true;
	}
	if (!v->info.suspended && c->a->suspended) {
		err("%s is not suspended, but --suspended says so: suspend it first "
		    "(dmsetup suspend %s), or start without --suspended", v->name,
		    v->name);
		return true;
	}
	if (v->info.inactive_table) {
		err("%s has an inactive table loaded (another tool is changing it): "
		    "clear it first (dmsetup clear %s)", v->name, v->name);
		return true;
	}
	if (!read_table(v->name, DM_DEVICE_TABLE, &c->orig) || !c->orig.n) {
		err("%s: cannot read its table", v->name);
		return true;
	}
	if (backup_target(&c->orig) >= 0) {
		struct bstatus s;

		if (job_status(v, &s, NULL))
			err("%s: a backup job is already on this volume (state %s): "
			    "wait for it or cancel it, then run 'dmbackup finish %s'",
			    v->name, s.state, v->name);
		else
			err("%s: its table already has a backup target", v->name);
		return true;
	}
	if (dev_exists(v->hidden)) {
		err("%s already exists (left over from an earlier job?): "
		    "remove it first", v->hidden);
		return true;
	}
	c->size = table_len(&c->orig);
	if (!check_dev("backup device", bdev_arg, v, c->size, &c->bdev, &bbytes))
		return true;
	if (c->a->meta && meta_refuses(c, bbytes))
		return true;
	/*
	 * An incremental backup updates the last one in place; a continued
	 * job's backup device holds its partial image.
	 */
	return strcmp(c->a->mode, "top") && !c->continuing &&
	       backup_dev_holds_data(bdev_arg, c->a->force);
}

/* ---- a group: one point in time for several volumes --------------------- */

/*
 * A group start runs the steps of start for every volume, phase by phase:
 * every hidden device is created, every backup table loaded, then every
 * volume suspended (each suspend flushes the volume and freezes its
 * filesystem, as for one volume), and only then is each resumed with its
 * job.  A write held back by one suspended volume cannot complete before
 * every volume is suspended, so no write that waited for it can reach
 * another volume before that: the point in time is the moment the last
 * volume was suspended, for all.  A failure anywhere undoes every step
 * done, of every volume, in reverse.
 */
enum { G_CREATE, G_LOAD, G_SUSPEND, G_RESUME, G_RESUME_AFTER, G_PHASES };

struct group {
	int n;
	struct start m[GROUP_MAX];
	const char *bdev[GROUP_MAX];	/* the backup device arguments */
	dev_t bdevs[GROUP_MAX];
	struct step steps[GROUP_MAX * G_PHASES];
	char names[GROUP_MAX * G_PHASES][DM_NAME_LEN + 16];
};

/* stacked_on - @lower is under @dev: a slave of it, or of its slaves. */
static bool stacked_on(dev_t dev, dev_t lower, int depth)
{
	char dir[64], path[384];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u/slaves",
		 major(dev), minor(dev));
	d = depth < 16 ? opendir(dir) : NULL;
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		unsigned int ma, mi;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/dev", dir, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%u:%u", &ma, &mi) == 2)
			found = makedev(ma, mi) == lower ||
				stacked_on(makedev(ma, mi), lower, depth + 1);
		fclose(f);
	}
	closedir(d);
	return found;
}

static dev_t vol_dev(const struct volume *v)
{
	return makedev(v->info.major, v->info.minor);
}

/*
 * group_refuses - what only a group can get wrong, before anything is
 * changed: a volume named twice, volumes stacked on each other (suspending
 * the upper one would hang on the lower one's suspend, and one job would
 * copy what the other's origin is), a backup device shared or one of the
 * group's volumes.
 */
static bool group_refuses(struct group *g)
{
	struct stat st;
	int i, j;

	for (i = 0; i < g->n; i++) {
		if (stat(g->bdev[i], &st) || !S_ISBLK(st.st_mode)) {
			err("backup device %s is not a block device", g->bdev[i]);
			return true;
		}
		g->bdevs[i] = st.st_rdev;
	}
	for (i = 0; i < g->n; i++) {
		const struct volume *v = &g->m[i].v;

		for (j = 0; j < g->n; j++) {
			const struct volume *w = &g->m[j].v;

			if (j > i && vol_dev(v) == vol_dev(w)) {
				err("group: %s is named twice", v->name);
				return true;
			}
			if (j != i && stacked_on(vol_dev(v), vol_dev(w), 0)) {
				err("group: %s is stacked on %s (which is under it: "
				    "/sys/block/dm-%u/slaves): a group's volumes must "
				    "be independent", v->name, w->name, v->info.minor);
				return true;
			}
			if (j > i && g->bdevs[i] == g->bdevs[j]) {
				err("group: %s and %s share backup device %s",
				    v->name, w->name, g->bdev[j]);
				return true;
			}
			if (g->bdevs[i] == vol_dev(w)) {
				err("group: the backup device %s of %s is %s, a volume "
				    "of the group", g->bdev[i], v->name, w->name);
				return true;
			}
		}
	}
	return false;
}

/* add_step - start's step @phase for volume @i of @g, the @k-th step. */
static void add_step(struct group *g, int k, int phase, int i)
{
	struct step *s = &g->steps[k];
	char name[sizeof(g->names[k])];

	*s = start_steps[1 + phase];	/* [0] is wipe-meta, not for a group */
	snprintf(name, sizeof(name), "%s:%s", s->name, g->m[i].v.name);
	memcpy(g->names[k], name, sizeof(name));
	s->name = g->names[k];
	s->ctx = &g->m[i];
}

/*
 * group_steps - the steps of every volume, phase by phase, named
 * "<step>:<volume>" for DMBACKUP_FAIL_AT: create, load, suspend of all,
 * then the resume of each with its checkpoint.  Returns their number.
 */
static int group_steps(struct group *g)
{
	int i, p, k = 0;

	for (p = G_CREATE; p <= G_SUSPEND; p++)
		for (i = 0; i < g->n; i++)
			add_step(g, k++, p, i);
	for (i = 0; i < g->n; i++) {
		add_step(g, k++, G_RESUME, i);
		add_step(g, k++, G_RESUME_AFTER, i);
	}
	return k;
}

static int start_group(const struct start_args *a, const char **pos, int npos)
{
	struct group *g = calloc(1, sizeof(*g));
	int i, r = EX_ERR;

	if (!g) {
		err("out of memory");
		return EX_ERR;
	}
	g->n = npos / 2;
	if (a->meta || a->map || a->suspended) {
		err("a group start takes neither --meta, --map nor --suspended: "
		    "they are one volume's; start such volumes on their own");
		free(g);
		return EX_USAGE;
	}
	for (i = 0; i < g->n; i++) {
		g->m[i].a = a;
		g->bdev[i] = pos[2 * i + 1];
		start_table_args(a, g->m[i].targs, sizeof(g->m[i].targs));
		if (!resolve_volume(pos[2 * i], &g->m[i].v))
			goto out;
	}
	if (group_refuses(g))
		goto out;
	for (i = 0; i < g->n; i++)
		if (start_refuses(&g->m[i], g->bdev[i]))
			goto out;
	switch (run_steps(g->steps, group_steps(g), NULL)) {
	case STEPS_DONE:
		for (i = 0; i < g->n; i++)
			printf("%s: backup to %s started: %" PRIu64 " sectors, "
			       "origin moved to %s\n", g->m[i].v.name, g->bdev[i],
			       g->m[i].size, g->m[i].v.hidden);
		printf("group of %d volumes started: one point in time for all\n",
		       g->n);
		r = EX_OK;
		break;
	case STEPS_UNDONE:
		err("group start failed: every volume of the group is restored "
		    "as it was");
		break;
	case STEPS_UNDO_FAILED:
		for (i = 0; i < g->n; i++)
			say_restore_failed(&g->m[i]);
		break;
	}
out:
	for (i = 0; i < g->n; i++)
		table_free(&g->m[i].orig);
	free(g);
	return r;
}

int cmd_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "map", required_argument, NULL, OPT_MAP },
		{ "speed", required_argument, NULL, OPT_SPEED },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ "on-source-error", required_argument, NULL, OPT_SRC },
		{ "on-target-error", required_argument, NULL, OPT_TGT },
		{ "on-cbw-error", required_argument, NULL, OPT_CBW },
		{ "cbw-timeout", required_argument, NULL, OPT_CBW_TIMEOUT },
		{ "suspended", no_argument, NULL, OPT_SUSPENDED },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "meta", required_argument, NULL, OPT_META },
		{ "track", no_argument, NULL, OPT_TRACK },
		{ NULL, 0, NULL, 0 }
	};
	struct start_args a = { .mode = "full" };
	struct cmd_line cl = {
		.name = "start", .usage = start_usage, .opts = opts,
		.min_pos = 2, .max_pos = CMD_MAX_POS, .opt = start_opt, .ctx = &a,
	};
	struct start c = { .a = &a };
	const char *bdev_arg;
	int r;

	/* start --incremental is a command of its own (cmd_incremental.c). */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--incremental"))
			return cmd_incremental(argc, argv);
	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	bdev_arg = cl.pos[1];
	if (a.track && !a.meta) {
		err("--track needs --meta: the record is kept on the metadata device");
		return EX_USAGE;
	}
	if (cl.npos % 2) {
		err("start: a volume and its backup device, in pairs");
		fputs(start_usage, stderr);
		return EX_USAGE;
	}
	if (!strcmp(a.mode, "top") != !!a.map) {
		err("--mode top needs --map, and --map is only for --mode top");
		return EX_USAGE;
	}
	if (cl.npos > 2)
		return start_group(&a, cl.pos, cl.npos);
	start_table_args(&a, c.targs, sizeof(c.targs));

	if (!resolve_volume(cl.pos[0], &c.v))
		return EX_ERR;
	r = EX_ERR;
	if (start_refuses(&c, bdev_arg))
		goto out;
	/* Both lists have the same length: one step differs. */
	switch (run_steps(a.suspended ? start_suspended_steps : start_steps,
			  ARRAY_SIZE(start_steps), &c)) {
	case STEPS_DONE:
		printf("%s: backup to %s %s: %" PRIu64 " sectors, origin "
		       "moved to %s%s\n", c.v.name, bdev_arg,
		       c.continuing ? "continued" : "started", c.size, c.v.hidden,
		       a.suspended ? ", volume resumed" : "");
		if (a.meta)
			say_job(&c.v, a.meta);
		if (a.track)
			jobconf_save(c.v.name, a.meta, bdev_arg, c.targs);
		r = EX_OK;
		break;
	case STEPS_UNDONE:
		break;
	case STEPS_UNDO_FAILED:
		say_restore_failed(&c);
		break;
	}
out:
	table_free(&c.orig);
	return r;
}
