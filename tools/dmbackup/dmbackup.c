// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup - run dm-backup jobs on live device-mapper volumes.
 *
 *   dmbackup start <volume> <backup_device> [options]
 *   dmbackup status [<volume>]
 *   dmbackup wait <volume>
 *   dmbackup speed <volume> RATE | pause | resume | cancel <volume>
 *   dmbackup finish <volume>
 *   dmbackup view <volume> <name> | view --remove <name>
 *   dmbackup map --chunk-sectors N --sectors LEN -o MAP SOURCE  (map.c)
 *
 * A job is stacked over a live volume the way LVM stacks a snapshot: the
 * volume's current table moves to a hidden device "<name>-dmbackup-origin",
 * and a "backup" table over the hidden device is switched in under the
 * volume's own name in one suspend/resume.  `finish` does the reverse.
 * Everything goes through libdevmapper (dm_task_*); see dmbackup.8 and
 * Documentation/admin-guide/device-mapper/dm-backup.rst.
 *
 * Every failure leaves the volume as it was: each step of start and finish
 * has a rollback, and DMBACKUP_FAIL_AT=<step> makes a step fail on purpose
 * (for the selftests; see fail_at()).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdevmapper.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "dmbackup.h"

#define HIDDEN_SUFFIX "-dmbackup-origin"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef DM_NAME_LEN
#define DM_NAME_LEN 128		/* <linux/dm-ioctl.h> */
#endif

static const char *prog = "dmbackup";

void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * fail_at - failure injection for the selftests: true when the environment
 * variable DMBACKUP_FAIL_AT, a comma-separated list, names @step (a list,
 * so that a rollback step can fail after the step that set it off).  The
 * caller then behaves exactly as if the operation of that step had failed.
 */
static bool fail_at(const char *step)
{
	const char *s = getenv("DMBACKUP_FAIL_AT");
	size_t len = strlen(step);

	for (; s && *s; s += strcspn(s, ","), s += *s == ',')
		if (!strncmp(s, step, len) && (s[len] == ',' || !s[len]))
			break;
	if (!s || !*s)
		return false;
	err("DMBACKUP_FAIL_AT=%s: simulating a failure of this step", step);
	return true;
}

/* ---- tables and status ------------------------------------------------- */

struct target {
	uint64_t start, len;
	char *type, *params;
};

struct table {
	int n;
	struct target *t;
};

static void table_free(struct table *tb)
{
	for (int i = 0; i < tb->n; i++) {
		free(tb->t[i].type);
		free(tb->t[i].params);
	}
	free(tb->t);
	tb->n = 0;
	tb->t = NULL;
}

static uint64_t table_len(const struct table *tb)
{
	return tb->n ? tb->t[tb->n - 1].start + tb->t[tb->n - 1].len : 0;
}

/* The job's status words (see the Documentation, "Status"). */
struct bstatus {
	char mode[16], state[16];
	uint64_t copied, total, chunk_sectors, cbw, zero;
	int64_t last_error;
	uint64_t last_error_chunk, source_errors, target_errors, skipped, speed;
	int nfields;
};

static bool job_ended(const struct bstatus *s)
{
	return strcmp(s->state, "running") && strcmp(s->state, "paused");
}

static bool parse_status(const char *params, struct bstatus *s)
{
	memset(s, 0, sizeof(*s));
	s->nfields = sscanf(params,
		"%15s %15s %" SCNu64 "/%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		" %" SCNd64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
		s->mode, s->state, &s->copied, &s->total, &s->chunk_sectors, &s->cbw,
		&s->zero, &s->last_error, &s->last_error_chunk, &s->source_errors,
		&s->target_errors, &s->skipped, &s->speed);
	return s->nfields >= 5 && s->total > 0;
}

/* ---- libdevmapper -------------------------------------------------------- */

/*
 * Set (per thread) while an ioctl may fail and the caller reports it: the
 * event waiter thread, suspend's EBUSY probe, remove's retries.
 */
static __thread bool dm_quiet;

/* libdevmapper's errors and warnings, unless dm_quiet. */
static void dm_log(int level, const char *file, int line, int dm_errno,
		   const char *f, ...)
{
	va_list ap;

	if (dm_quiet || (level & 7) > 4)
		return;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, f);
	vfprintf(stderr, f, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct dm_task *task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (!dmt) {
		err("cannot talk to device-mapper (is dm-mod loaded? are you root?)");
		exit(EX_ERR);
	}
	if (name && !dm_task_set_name(dmt, name)) {
		err("bad device name '%s'", name);
		exit(EX_ERR);
	}
	return dmt;
}

/*
 * run_nodes - run a task that creates, resumes or removes a device, then
 * settle /dev/mapper: with udev, dm_udev_wait() waits for udev's node
 * updates; without udev (DM_DISABLE_UDEV=1, see main()), it applies
 * libdevmapper's own queued node operations (mknod/unlink), as dmsetup does.
 */
static int run_nodes(struct dm_task *dmt)
{
	uint32_t cookie = 0;
	int r;

	if (!dm_task_set_cookie(dmt, &cookie, 0))
		return 0;
	r = dm_task_run(dmt);
	(void)dm_udev_wait(cookie);
	return r;
}

static bool get_info(const char *name, struct dm_info *info)
{
	struct dm_task *dmt = task(DM_DEVICE_INFO, name);
	bool ok = dm_task_run(dmt) && dm_task_get_info(dmt, info);

	dm_task_destroy(dmt);
	if (!ok)
		memset(info, 0, sizeof(*info));
	return ok;
}

static bool dev_exists(const char *name)
{
	struct dm_info info;

	return get_info(name, &info) && info.exists;
}

/*
 * read_table_slot - the table (DM_DEVICE_TABLE) or status (DM_DEVICE_STATUS)
 * of @name, of its inactive (loaded, not yet resumed) table if @inactive.
 */
static bool read_table_slot(const char *name, int type, bool inactive,
			    struct table *tb)
{
	struct dm_task *dmt = task(type, name);
	void *next = NULL;
	uint64_t start, len;
	char *ttype, *params;

	memset(tb, 0, sizeof(*tb));
	if ((inactive && !dm_task_query_inactive_table(dmt)) || !dm_task_run(dmt)) {
		dm_task_destroy(dmt);
		return false;
	}
	do {
		next = dm_get_next_target(dmt, next, &start, &len, &ttype, &params);
		if (!ttype)
			continue;
		tb->t = realloc(tb->t, (tb->n + 1) * sizeof(*tb->t));
		if (!tb->t) {
			err("out of memory");
			exit(EX_ERR);
		}
		tb->t[tb->n].start = start;
		tb->t[tb->n].len = len;
		tb->t[tb->n].type = strdup(ttype);
		tb->t[tb->n].params = strdup(params ? params : "");
		tb->n++;
	} while (next);
	dm_task_destroy(dmt);
	return true;
}

/* read_table - the live table or status of @name. */
static bool read_table(const char *name, int type, struct table *tb)
{
	return read_table_slot(name, type, false, tb);
}

/*
 * for_each_dm_device - call @fn with the name of every dm device; false
 * (and a message) if the list cannot be read.
 */
static bool for_each_dm_device(void (*fn)(const char *name, void *ctx), void *ctx)
{
	struct dm_task *dmt = task(DM_DEVICE_LIST, NULL);
	struct dm_names *names = NULL;
	unsigned int next = 0;
	bool ok = dm_task_run(dmt) && (names = dm_task_get_names(dmt));

	if (!ok)
		err("cannot list the device-mapper devices");
	else if (names->dev) {
		do {
			names = (struct dm_names *)((char *)names + next);
			next = names->next;
			fn(names->name, ctx);
		} while (next);
	}
	dm_task_destroy(dmt);
	return ok;
}

static bool add_targets(struct dm_task *dmt, const struct table *tb)
{
	for (int i = 0; i < tb->n; i++)
		if (!dm_task_add_target(dmt, tb->t[i].start, tb->t[i].len,
					tb->t[i].type, tb->t[i].params))
			return false;
	return true;
}

/* create_dev - create and resume a device with @tb (DM_DEVICE_CREATE). */
static bool create_dev(const char *name, const struct table *tb, bool ro,
		       int *errp)
{
	struct dm_task *dmt = task(DM_DEVICE_CREATE, name);
	bool ok = add_targets(dmt, tb) && (!ro || dm_task_set_ro(dmt)) &&
		  run_nodes(dmt);

	if (errp)
		*errp = ok ? 0 : dm_task_get_errno(dmt);
	dm_task_destroy(dmt);
	return ok;
}

/* load_table - load @tb into @name's inactive slot (DM_DEVICE_RELOAD). */
static bool load_table(const char *name, const struct table *tb, bool ro)
{
	struct dm_task *dmt = task(DM_DEVICE_RELOAD, name);
	bool ok = add_targets(dmt, tb) && (!ro || dm_task_set_ro(dmt)) &&
		  dm_task_run(dmt);

	dm_task_destroy(dmt);
	return ok;
}

/* simple_op - DM_DEVICE_SUSPEND, _RESUME, _CLEAR or _REMOVE. */
static bool simple_op(int type, const char *name)
{
	struct dm_task *dmt = task(type, name);
	bool ok;

	if (type == DM_DEVICE_REMOVE) {
		/* Retries for a while if a transient opener (blkid) holds it. */
		dm_task_retry_remove(dmt);
		dm_quiet = true;
	}
	if (type == DM_DEVICE_RESUME || type == DM_DEVICE_REMOVE)
		ok = run_nodes(dmt);
	else
		ok = dm_task_run(dmt);
	dm_quiet = false;
	if (!ok && type == DM_DEVICE_REMOVE)
		err("cannot remove %s: %s", name, strerror(dm_task_get_errno(dmt)));
	dm_task_destroy(dmt);
	return ok;
}

/*
 * suspend_volume - suspend @name, which flushes it and freezes its
 * filesystem.  If the filesystem is already frozen (fsfreeze, an
 * application's quiesce hook), 6.1 kernels refuse the freeze with EBUSY: the
 * frozen filesystem is consistent already, so suspend without lockfs.
 */
static bool suspend_volume(const char *name)
{
	struct dm_task *dmt = task(DM_DEVICE_SUSPEND, name);
	bool ok;
	int e;

	dm_quiet = true;
	ok = dm_task_run(dmt);
	e = dm_task_get_errno(dmt);
	dm_quiet = false;
	dm_task_destroy(dmt);
	if (ok || e != EBUSY)
		return ok || (err("cannot suspend %s: %s", name, strerror(e)), false);
	printf("%s: its filesystem is frozen already: suspending without freezing it\n",
	       name);
	dmt = task(DM_DEVICE_SUSPEND, name);
	ok = dm_task_skip_lockfs(dmt) && dm_task_run(dmt);
	dm_task_destroy(dmt);
	return ok;
}

static bool send_message(const char *name, uint64_t sector, const char *msg)
{
	struct dm_task *dmt = task(DM_DEVICE_TARGET_MSG, name);
	bool ok = dm_task_set_sector(dmt, sector) && dm_task_set_message(dmt, msg) &&
		  dm_task_run(dmt);

	dm_task_destroy(dmt);
	return ok;
}

/* ---- volumes ----------------------------------------------------------- */

struct volume {
	char name[DM_NAME_LEN];
	char hidden[DM_NAME_LEN + sizeof(HIDDEN_SUFFIX)];
	struct dm_info info;
};

/*
 * resolve_dm - @arg is a device path (/dev/mapper/x, /dev/dm-N, a
 * /dev/vg/lv symlink) or a dm device name: fill in @v's name and info.
 * Refuses anything that is not a device-mapper device.
 */
static bool resolve_dm(const char *arg, struct volume *v)
{
	struct dm_task *dmt;
	struct stat st;
	const char *name;
	bool ok;

	memset(v, 0, sizeof(*v));
	if (strchr(arg, '/')) {
		if (stat(arg, &st)) {
			err("%s: %s", arg, strerror(errno));
			return false;
		}
		if (!S_ISBLK(st.st_mode)) {
			err("%s is not a block device", arg);
			return false;
		}
		if (!dm_is_dm_major(major(st.st_rdev))) {
			err("%s is not a device-mapper device", arg);
			return false;
		}
		dmt = task(DM_DEVICE_INFO, NULL);
		ok = dm_task_set_major(dmt, major(st.st_rdev)) &&
		     dm_task_set_minor(dmt, minor(st.st_rdev)) &&
		     dm_task_run(dmt) && dm_task_get_info(dmt, &v->info) &&
		     v->info.exists && (name = dm_task_get_name(dmt)) && *name;
		if (ok)
			snprintf(v->name, sizeof(v->name), "%s", name);
		dm_task_destroy(dmt);
		if (!ok) {
			err("%s: no such device-mapper device", arg);
			return false;
		}
	} else {
		if (strlen(arg) >= sizeof(v->name) || !get_info(arg, &v->info) ||
		    !v->info.exists) {
			err("%s: no such device-mapper device", arg);
			return false;
		}
		snprintf(v->name, sizeof(v->name), "%s", arg);
	}
	return true;
}

/* resolve_volume - resolve_dm(), and the name of the volume's hidden device. */
static bool resolve_volume(const char *arg, struct volume *v)
{
	if (!resolve_dm(arg, v))
		return false;
	snprintf(v->hidden, sizeof(v->hidden), "%s%s", v->name, HIDDEN_SUFFIX);
	if (strlen(v->hidden) >= DM_NAME_LEN) {
		err("%s: name too long for a hidden device name", v->name);
		return false;
	}
	return true;
}

/* backup_target - index of the backup target in @tb, or -1. */
static int backup_target(const struct table *tb)
{
	for (int i = 0; i < tb->n; i++)
		if (!strcmp(tb->t[i].type, "backup"))
			return i;
	return -1;
}

/*
 * A volume without a backup table but with its hidden device: something
 * other than dmbackup replaced the volume's table (LVM does on `lvchange
 * --refresh`), which ends the job (the kernel logs "job abandoned"), or a
 * finish stopped before removing the hidden device.
 */
#define ORPHAN_HINT "a table without the backup target replaced the job's " \
	"(e.g. lvchange --refresh), which ended the job and left the backup incomplete " \
	"unless it had completed (see the kernel log), or a finish was interrupted; " \
	"'dmbackup finish' removes it"

/*
 * job_status - the status of @v's backup job, and where its target is in
 * the table (@where's start and len, if not NULL); false (and a message)
 * if there is no job.
 */
static bool job_status(const struct volume *v, struct bstatus *s, struct target *where)
{
	struct table st;
	int i;

	if (!read_table(v->name, DM_DEVICE_STATUS, &st)) {
		err("%s: cannot read the status", v->name);
		return false;
	}
	i = backup_target(&st);
	if (i < 0) {
		err("%s: no backup job runs on this volume", v->name);
		if (dev_exists(v->hidden))
			err("%s: but %s is left: %s", v->name, v->hidden, ORPHAN_HINT);
		table_free(&st);
		return false;
	}
	if (!parse_status(st.t[i].params, s)) {
		err("%s: cannot parse the status '%s'", v->name, st.t[i].params);
		table_free(&st);
		return false;
	}
	if (where) {
		where->start = st.t[i].start;
		where->len = st.t[i].len;
	}
	table_free(&st);
	return true;
}

/* ---- parsing --------------------------------------------------------------- */

/* parse_rate - "33554432", "32M", "32MiB", "1.5G", "512k/s": bytes per second. */
static bool parse_rate(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno)
		return false;
	switch (tolower((unsigned char)*end)) {
	case 'k': mult = 1ULL << 10; end++; break;
	case 'm': mult = 1ULL << 20; end++; break;
	case 'g': mult = 1ULL << 30; end++; break;
	case 't': mult = 1ULL << 40; end++; break;
	}
	if (mult > 1 && *end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (!strcmp(end, "/s"))
		end += 2;
	if (*end || v * mult >= 18446744073709551615.0)
		return false;
	*out = (uint64_t)(v * mult);
	return true;
}

static const char *human(double bytes, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int i = 0;

	while (bytes >= 1024 && i < 5) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, unit[i]);
	return buf;
}

static const char *hms(double secs, char *buf, size_t len)
{
	unsigned long s = secs < 0 ? 0 : (unsigned long)(secs + 0.5);

	snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	return buf;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

#define CMD_MAX_OPTS 15

/* Keys of the long options without a short form (getopt_long's val). */
enum {
	OPT_MODE = 256, OPT_MAP, OPT_SPEED, OPT_CHUNK, OPT_SRC, OPT_TGT, OPT_CBW,
	OPT_INTERVAL, OPT_REMOVE, OPT_SUSPENDED, OPT_CBW_TIMEOUT,
};

/*
 * parse_args - the command line of a subcommand (@argv[0] is its name), the
 * same way for all of them: getopt_long, so options may come before,
 * between or after the positional arguments.  Returns ARGS_OK, or the exit
 * code for the caller to return: EX_OK after --help, EX_USAGE (with the
 * usage on stderr) for a bad command line, or what @cl->opt returned.
 */
int parse_args(struct cmd_line *cl, int argc, char **argv)
{
	struct option lopts[CMD_MAX_OPTS + 2] = {
		{ "help", no_argument, NULL, 'h' },
	};
	/* ':' first: getopt returns ':' for a missing argument, '?' else. */
	char sopts[2 * CMD_MAX_OPTS + 3] = ":h", *sp = sopts + 2;
	const struct option *o;
	int n = 1, c, r;

	for (o = cl->opts; o && o->name; o++) {
		if (n == ARRAY_SIZE(lopts) - 1)
			abort();	/* a bug: raise CMD_MAX_OPTS */
		lopts[n++] = *o;
		if (o->val < 128 && isalpha(o->val)) {
			*sp++ = o->val;
			if (o->has_arg == required_argument)
				*sp++ = ':';
		}
	}
	opterr = 0;		/* our messages name the subcommand */
	optind = 0;		/* glibc: start afresh */
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(cl->usage, stdout);
			return EX_OK;
		case ':':
			err("%s: %s needs an argument (see dmbackup %s --help)",
			    cl->name, argv[optind - 1], cl->name);
			return EX_USAGE;
		case '?':
			if (optopt)
				err("%s: unknown option -%c", cl->name, optopt);
			else
				err("%s: unknown option %s", cl->name, argv[optind - 1]);
			goto usage;
		default:
			r = cl->opt(cl->ctx, c, optarg);
			if (r != EX_OK)
				return r;
		}
	}
	cl->npos = argc - optind;
	if (cl->npos < cl->min_pos || cl->npos > cl->max_pos)
		goto usage;
	for (n = 0; n < cl->npos; n++)
		cl->pos[n] = argv[optind + n];
	return ARGS_OK;
usage:
	fputs(cl->usage, stderr);
	return EX_USAGE;
}

/* ---- start ------------------------------------------------------------------ */

/*
 * check_backup_dev - refuse a backup device that is not a block device, is
 * the volume, is too small, or is in use (holders, mounted, opened
 * exclusively).  Returns its dev_t.
 */
static bool check_backup_dev(const char *path, const struct volume *v,
			     uint64_t need, dev_t *devp)
{
	char buf[512], line[4096];
	struct dirent *de;
	struct stat st;
	uint64_t bytes;
	DIR *d;
	FILE *f;
	int fd;

	if (stat(path, &st)) {
		err("backup device %s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISBLK(st.st_mode)) {
		err("backup device %s is not a block device", path);
		return false;
	}
	*devp = st.st_rdev;
	if (major(st.st_rdev) == v->info.major && minor(st.st_rdev) == v->info.minor) {
		err("backup device %s is the volume itself", path);
		return false;
	}
	snprintf(buf, sizeof(buf), "/sys/dev/block/%u:%u/holders",
		 major(st.st_rdev), minor(st.st_rdev));
	d = opendir(buf);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			err("backup device %s is in use: held by %s (see %s)",
			    path, de->d_name, buf);
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
				err("backup device %s is in use: mounted on %s", path, mnt);
				fclose(f);
				return false;
			}
		}
		fclose(f);
	}
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EBUSY)
			err("backup device %s is in use (opened exclusively: mounted, "
			    "in a RAID or dm device, or by another program)", path);
		else
			err("backup device %s: %s", path, strerror(errno));
		return false;
	}
	if (ioctl(fd, BLKGETSIZE64, &bytes)) {
		err("backup device %s: cannot get its size: %s", path, strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	if (bytes / 512 < need) {
		err("backup device %s is too small: %" PRIu64 " sectors, the volume has %"
		    PRIu64, path, bytes / 512, need);
		return false;
	}
	return true;
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

/*
 * restore_after_start_resume - the resume that should have switched the
 * backup table in failed (or DMBACKUP_FAIL_AT=resume-after says so): put the
 * volume back as it was, whichever table is live now.  @keep_suspended
 * (start --suspended): leave it suspended, as the caller gave it to us.
 */
static bool restore_after_start_resume(const struct volume *v, const struct table *orig,
				       bool ro, bool keep_suspended)
{
	struct dm_info info;
	struct table live;
	bool swapped, ok = true;

	if (!read_table(v->name, DM_DEVICE_TABLE, &live))
		return false;
	swapped = backup_target(&live) >= 0;
	table_free(&live);
	if (!swapped) {
		/* The old table is still live, maybe suspended. */
		simple_op(DM_DEVICE_CLEAR, v->name);
		/* The caller's suspend goes on: its map still holds. */
		return keep_suspended || simple_op(DM_DEVICE_RESUME, v->name);
	}
	/* The backup table is live: load the original table back. */
	ok = load_table(v->name, orig, ro);
	if (ok && get_info(v->name, &info) && !info.suspended)
		ok = suspend_volume(v->name);
	if (!ok || !simple_op(DM_DEVICE_RESUME, v->name))
		return false;
	if (keep_suspended)
		resuspend_after_restore(v);
	return true;
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

static const char start_usage[] =
"usage: dmbackup start <volume> <backup_device> [--mode full|none]\n"
"           [--mode top --map MAP_DEVICE] [--suspended] [--speed RATE]\n"
"           [--on-source-error report|ignore|stop]\n"
"           [--on-target-error report|ignore|stop|enospc]\n"
"           [--on-cbw-error break_backup|fail_write] [--chunk-size SECTORS]\n"
"           [--cbw-timeout MS]\n"
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
"--suspended: the caller suspended the volume (dmsetup suspend), e.g. to\n"
"compute the map while nothing writes; start does not suspend it, and its\n"
"resume, which puts the job in place, is the point in time.  Without\n"
"--suspended a suspended volume is refused, and with it one that is not.\n"
"Refuses a volume that is not a dm device or already has a backup job, and a\n"
"backup device that is too small or in use.  On any failure the volume is\n"
"left exactly as it was; with --suspended, still suspended.\n";

/* The options of start; NULL or 0: left out of the table (the default). */
struct start_args {
	const char *mode, *map, *src, *tgt, *cbw;
	const char *cbw_timeout;
	uint64_t speed, chunk;
	bool suspended;		/* --suspended: the caller suspended the volume */
};

/* An option without an argument: @ctx is the bool it sets. */
static int flag_opt(void *ctx, int key, const char *val)
{
	*(bool *)ctx = true;
	return EX_OK;
}

/* bad_value - "--OPT VAL: WANT" for an option value; the exit code. */
static int bad_value(const char *opt, const char *val, const char *want)
{
	err("--%s %s: %s", opt, val, want);
	return EX_USAGE;
}

/* pick - an option whose value must be one of @list: store it in *@dst. */
static int pick(const char **dst, const char *opt, const char *val,
		const char *const *list, const char *want)
{
	*dst = val;
	return one_of(val, list) ? EX_OK : bad_value(opt, val, want);
}

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
	case OPT_SUSPENDED:
		a->suspended = true;
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
#undef ADD_OPT
	if (nopt)
		snprintf(buf, len, "%s %d%s", a->mode, nopt, opts);
	else
		snprintf(buf, len, "%s", a->mode);
}

static int cmd_start(int argc, char **argv)
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
		{ NULL, 0, NULL, 0 }
	};
	struct start_args a = { .mode = "full" };
	struct cmd_line cl = {
		.name = "start", .usage = start_usage, .opts = opts,
		.min_pos = 2, .max_pos = 2, .opt = start_opt, .ctx = &a,
	};
	const char *vol_arg, *bdev_arg;
	char targs[384], params[512];
	uint64_t size;
	struct table orig, bk = { 0 };
	struct target bkt;
	struct dm_info hinfo, info;
	struct volume v;
	dev_t bdev;
	int i;

	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	vol_arg = cl.pos[0];
	bdev_arg = cl.pos[1];
	if (!strcmp(a.mode, "top") != !!a.map) {
		err("--mode top needs --map, and --map is only for --mode top");
		return EX_USAGE;
	}
	start_table_args(&a, targs, sizeof(targs));

	if (!resolve_volume(vol_arg, &v))
		return EX_ERR;
	if (!v.info.live_table) {
		err("%s has no live table", v.name);
		return EX_ERR;
	}
	/*
	 * Whose suspend it is, only the caller knows: resuming someone else's
	 * (an LVM command's, another backup's) would let writes through that
	 * it holds back on purpose.
	 */
	if (v.info.suspended && !a.suspended) {
		err("%s is suspended: resume it first, or, if you suspended it for "
		    "this job (to compute its map), pass --suspended", v.name);
		return EX_ERR;
	}
	if (!v.info.suspended && a.suspended) {
		err("%s is not suspended, but --suspended says so: suspend it first "
		    "(dmsetup suspend %s), or start without --suspended", v.name, v.name);
		return EX_ERR;
	}
	if (v.info.inactive_table) {
		err("%s has an inactive table loaded (another tool is changing it): "
		    "clear it first (dmsetup clear %s)", v.name, v.name);
		return EX_ERR;
	}
	if (!read_table(v.name, DM_DEVICE_TABLE, &orig) || !orig.n) {
		err("%s: cannot read its table", v.name);
		return EX_ERR;
	}
	if (backup_target(&orig) >= 0) {
		struct bstatus s;

		if (job_status(&v, &s, NULL))
			err("%s: a backup job is already on this volume (state %s): "
			    "wait for it or cancel it, then run 'dmbackup finish %s'",
			    v.name, s.state, v.name);
		else
			err("%s: its table already has a backup target", v.name);
		return EX_ERR;
	}
	if (dev_exists(v.hidden)) {
		err("%s already exists (left over from an earlier job?): "
		    "remove it first", v.hidden);
		return EX_ERR;
	}
	size = table_len(&orig);
	if (!check_backup_dev(bdev_arg, &v, size, &bdev))
		return EX_ERR;

	/* 1. The hidden device, with the volume's current table, resumed. */
	if (fail_at("create") ||
	    !create_dev(v.hidden, &orig, v.info.read_only, NULL)) {
		err("cannot create %s; %s is unchanged%s", v.hidden, v.name,
		    a.suspended ? " (still suspended)" : "");
		if (dev_exists(v.hidden))
			simple_op(DM_DEVICE_REMOVE, v.hidden);
		return EX_ERR;
	}
	if (!get_info(v.hidden, &hinfo) || !hinfo.exists) {
		err("%s vanished", v.hidden);
		return EX_ERR;
	}

	/* 2. The backup table into the volume's inactive slot. */
	snprintf(params, sizeof(params), "%u:%u %u:%u %s", hinfo.major,
		 hinfo.minor, major(bdev), minor(bdev), targs);
	bkt = (struct target){ 0, size, "backup", params };
	bk.n = 1;
	bk.t = &bkt;
	if (fail_at("load") || !load_table(v.name, &bk, v.info.read_only)) {
		err("cannot load the backup table '0 %" PRIu64 " backup %s' into %s "
		    "(the kernel log says why); %s is unchanged", size, params,
		    v.name, v.name);
		goto undo_load;
	}

	/*
	 * 3. Suspend: flushes and freezes the filesystem on the volume.  Or,
	 * with --suspended, check that the caller's suspend still holds: if
	 * someone resumed the volume meanwhile, writes since the caller's map
	 * would be missing from the backup (the resume below would suspend
	 * the volume itself).
	 */
	if (a.suspended) {
		if (fail_at("still-suspended") || !get_info(v.name, &info) ||
		    !info.suspended) {
			err("%s was resumed since it was suspended (by someone else?): "
			    "what was written since may be missing from the map; "
			    "not starting", v.name);
			goto undo_load;
		}
	} else if (fail_at("suspend") || !suspend_volume(v.name)) {
		err("cannot suspend %s; it is unchanged", v.name);
		goto undo_load;
	}

	/* 4. Resume: swaps the backup table in.  The point in time. */
	if (fail_at("resume") || !simple_op(DM_DEVICE_RESUME, v.name) ||
	    fail_at("resume-after")) {
		err("cannot resume %s with the backup table; restoring it", v.name);
		if (!restore_after_start_resume(&v, &orig, v.info.read_only, a.suspended)) {
			err("RESTORE FAILED: %s may still be suspended.  By hand:", v.name);
			for (i = 0; i < orig.n; i++)
				fprintf(stderr, "  dmsetup load %s --table '%" PRIu64 " %"
					PRIu64 " %s %s'\n", v.name, orig.t[i].start,
					orig.t[i].len, orig.t[i].type, orig.t[i].params);
			fprintf(stderr, "  dmsetup resume %s\n  dmsetup remove %s\n",
				v.name, v.hidden);
			return EX_ERR;
		}
		if (!simple_op(DM_DEVICE_REMOVE, v.hidden))
			err("%s is restored, but %s could not be removed", v.name, v.hidden);
		else
			say_restored(&v, a.suspended);
		return EX_ERR;
	}
	printf("%s: backup to %s started: %" PRIu64 " sectors, origin moved to %s%s\n",
	       v.name, bdev_arg, size, v.hidden,
	       a.suspended ? ", volume resumed" : "");
	table_free(&orig);
	return EX_OK;

undo_load:
	simple_op(DM_DEVICE_CLEAR, v.name);
	/* Only our own suspend is undone; the caller's (--suspended) stays. */
	if (!a.suspended && get_info(v.name, &v.info) && v.info.suspended)
		simple_op(DM_DEVICE_RESUME, v.name);
	if (!simple_op(DM_DEVICE_REMOVE, v.hidden))
		err("could not remove %s: remove it by hand", v.hidden);
	else if (a.suspended)
		say_restored(&v, true);
	table_free(&orig);
	return EX_ERR;
}

/* ---- views ---------------------------------------------------------------------- */

/*
 * A view is a dm device with a backup-view target whose arguments are the
 * job's origin and backup device, as the kernel prints them ("major:minor",
 * dm_get_device).  It does not open the volume, which a mounted file system
 * holds exclusively.  It reads the job through the job registry, so it
 * survives reloads that hand the job over, but not `finish`, which replaces
 * the job by the original table.  Older views name the volume itself.
 */
struct view_search {
	char dev[32];			/* the volume's "major:minor" */
	char devs[64];			/* the job's "origin backup" */
	char names[512];		/* the views found, comma separated */
	int n;
};

static bool is_view_of(const struct table *tb, const struct view_search *vs)
{
	for (int i = 0; i < tb->n; i++)
		if (!strcmp(tb->t[i].type, "backup-view") &&
		    (!strcmp(tb->t[i].params, vs->dev) ||
		     (*vs->devs && !strcmp(tb->t[i].params, vs->devs))))
			return true;
	return false;
}

/*
 * job_devices - the "origin backup" devices of the backup job on @v, the
 * first two words of its table, into @buf; false if there is none.
 */
static bool job_devices(const struct volume *v, char *buf, size_t size)
{
	struct table tb;
	bool ok = false;
	int i;

	*buf = '\0';
	if (!read_table(v->name, DM_DEVICE_TABLE, &tb))
		return false;
	i = backup_target(&tb);
	if (i >= 0) {
		char o[32], b[32];

		ok = sscanf(tb.t[i].params, "%31s %31s", o, b) == 2 &&
		     snprintf(buf, size, "%s %s", o, b) < (int)size;
	}
	table_free(&tb);
	return ok;
}

/* find_view - for_each_dm_device(): is @name a view (live or loaded table)? */
static void find_view(const char *name, void *ctx)
{
	struct view_search *vs = ctx;
	struct dm_info info;
	struct table tb;
	bool found = false;
	size_t l;

	if (!get_info(name, &info) || !info.exists)
		return;		/* gone meanwhile */
	if (info.live_table && read_table(name, DM_DEVICE_TABLE, &tb)) {
		found = is_view_of(&tb, vs);
		table_free(&tb);
	}
	if (!found && info.inactive_table &&
	    read_table_slot(name, DM_DEVICE_TABLE, true, &tb)) {
		found = is_view_of(&tb, vs);
		table_free(&tb);
	}
	if (!found)
		return;
	l = strlen(vs->names);
	snprintf(vs->names + l, sizeof(vs->names) - l, "%s%s", vs->n ? ", " : "", name);
	vs->n++;
}

/*
 * find_views - how many views read the job of @v (-1 if the devices cannot
 * be listed); their names in @vs->names.
 */
static int find_views(const struct volume *v, struct view_search *vs)
{
	memset(vs, 0, sizeof(*vs));
	snprintf(vs->dev, sizeof(vs->dev), "%u:%u", v->info.major, v->info.minor);
	job_devices(v, vs->devs, sizeof(vs->devs));
	if (!for_each_dm_device(find_view, vs))
		return -1;
	return vs->n;
}

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

static int cmd_view(int argc, char **argv)
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

/* ---- finish -------------------------------------------------------------------- */

static const char finish_usage[] =
"usage: dmbackup finish [--force] <volume>\n"
"\n"
"End the backup job on <volume>: put the volume's original table (read from\n"
"<name>" HIDDEN_SUFFIX ") back under its name in one suspend/resume, and\n"
"remove the hidden device.  Refuses while the job is running or paused\n"
"unless --force is given (which abandons the job: the backup is incomplete).\n"
"On any failure the volume is left as it was.\n";

static int cmd_finish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	bool force = false, swapped;
	struct cmd_line cl = {
		.name = "finish", .usage = finish_usage, .opts = opts,
		.min_pos = 1, .max_pos = 1, .opt = flag_opt, .ctx = &force,
	};
	const char *vol_arg;
	struct table live, orig;
	struct dm_info hinfo, info;
	struct view_search vs;
	struct bstatus s;
	struct volume v;
	unsigned int oma, omi;
	int bi;

	bi = parse_args(&cl, argc, argv);
	if (bi != ARGS_OK)
		return bi;
	vol_arg = cl.pos[0];
	if (!resolve_volume(vol_arg, &v))
		return EX_ERR;
	if (!read_table(v.name, DM_DEVICE_TABLE, &live)) {
		err("%s: cannot read its table", v.name);
		return EX_ERR;
	}
	bi = backup_target(&live);
	if (bi < 0) {
		/* A finish that got as far as the swap: only the removal is left. */
		if (get_info(v.hidden, &hinfo) && hinfo.exists && !hinfo.open_count) {
			if (!simple_op(DM_DEVICE_REMOVE, v.hidden)) {
				err("cannot remove %s", v.hidden);
				return EX_ERR;
			}
			printf("%s: removed the left-over %s\n", v.name, v.hidden);
			return EX_OK;
		}
		err("%s: no backup job runs on this volume", v.name);
		return EX_ERR;
	}
	if (live.n != 1 || sscanf(live.t[bi].params, "%u:%u", &oma, &omi) != 2 ||
	    !get_info(v.hidden, &hinfo) || !hinfo.exists ||
	    hinfo.major != oma || hinfo.minor != omi) {
		err("%s: its backup job was not started by dmbackup (its origin is not %s): "
		    "finish it with dmsetup", v.name, v.hidden);
		return EX_ERR;
	}
	/*
	 * The original table would cut a view off its job (its reads fail
	 * from then on): even --force leaves that to the view's owner.
	 */
	switch (find_views(&v, &vs)) {
	case -1:
		return EX_ERR;
	case 0:
		break;
	default:
		err("%s: the job's image is still read through the view %s: "
		    "remove it first (dmbackup view --remove NAME)", v.name, vs.names);
		return EX_ERR;
	}
	if (!job_status(&v, &s, NULL))
		return EX_ERR;
	if (!job_ended(&s) && !force) {
		err("%s: the job is still %s (%" PRIu64 "/%" PRIu64 " chunks): wait for it, "
		    "cancel it, or use --force to abandon it", v.name, s.state, s.copied,
		    s.total);
		return EX_ERR;
	}
	if (v.info.inactive_table) {
		err("%s has an inactive table loaded (another tool is changing it): "
		    "clear it first", v.name);
		return EX_ERR;
	}
	if (!read_table(v.hidden, DM_DEVICE_TABLE, &orig) || !orig.n) {
		err("%s: cannot read its table", v.hidden);
		return EX_ERR;
	}
	if (table_len(&orig) != live.t[0].len) {
		err("%s and %s differ in size: refusing", v.name, v.hidden);
		return EX_ERR;
	}

	/* 1. The original table into the inactive slot. */
	if (fail_at("finish-load") || !load_table(v.name, &orig, v.info.read_only)) {
		err("cannot load the original table into %s; it is unchanged", v.name);
		goto undo_load;
	}
	/* 2. Suspend. */
	if (fail_at("finish-suspend") || !suspend_volume(v.name)) {
		err("cannot suspend %s; it is unchanged", v.name);
		goto undo_load;
	}
	/* 3. Resume: the original table is back. */
	if (fail_at("finish-resume") || !simple_op(DM_DEVICE_RESUME, v.name) ||
	    fail_at("finish-resume-after")) {
		err("cannot resume %s with the original table; restoring the backup table",
		    v.name);
		if (read_table(v.name, DM_DEVICE_TABLE, &orig)) {
			swapped = backup_target(&orig) < 0;
			table_free(&orig);
		} else {
			swapped = false;
		}
		/* A reload of the same backup table takes the job over. */
		if (swapped ? !load_table(v.name, &live, v.info.read_only) ||
			      !(get_info(v.name, &info) && (info.suspended ||
				suspend_volume(v.name)))
			    : !simple_op(DM_DEVICE_CLEAR, v.name)) {
			err("RESTORE FAILED: check %s with dmsetup info/table", v.name);
			return EX_ERR;
		}
		if (!simple_op(DM_DEVICE_RESUME, v.name)) {
			err("RESTORE FAILED: %s may still be suspended (dmsetup resume %s)",
			    v.name, v.name);
			return EX_ERR;
		}
		err("%s is restored as it was (the job goes on)", v.name);
		return EX_ERR;
	}
	/* 4. The hidden device is unused now. */
	if (fail_at("finish-remove") || !simple_op(DM_DEVICE_REMOVE, v.hidden)) {
		err("%s has its original table back, but %s could not be removed: "
		    "run 'dmbackup finish %s' again or 'dmsetup remove %s'",
		    v.name, v.hidden, v.name, v.hidden);
		return EX_ERR;
	}
	printf("%s: original table restored (job %s, %" PRIu64 "/%" PRIu64 " chunks)\n",
	       v.name, s.state, s.copied, s.total);
	table_free(&orig);
	table_free(&live);
	return EX_OK;

undo_load:
	simple_op(DM_DEVICE_CLEAR, v.name);
	if (get_info(v.name, &info) && info.suspended)
		simple_op(DM_DEVICE_RESUME, v.name);
	return EX_ERR;
}

/* ---- status -------------------------------------------------------------------- */

/* print_job - one line per job; @rate < 0 when unknown. */
static void print_job(FILE *f, const char *name, const struct bstatus *s, double rate)
{
	double bytes = (double)s->chunk_sectors * 512, pct = 100.0 * s->copied / s->total;
	uint64_t errors = s->source_errors + s->target_errors;
	char a[32], b[32], c[32], d[32];

	fprintf(f, "%s: %s %s %.1f%% %" PRIu64 "/%" PRIu64 " chunks (%s/%s)", name,
		s->mode, s->state, pct, s->copied, s->total, human(s->copied * bytes, a, 32),
		human(s->total * bytes, b, 32));
	if (!job_ended(s)) {
		if (rate > 0)
			fprintf(f, " rate %s/s ETA %s", human(rate, c, 32),
				hms((s->total - s->copied) * bytes / rate, d, 32));
		else if (rate == 0)
			fprintf(f, " rate 0 B/s ETA -");
		if (s->speed)
			fprintf(f, " speed %s/s", human(s->speed, c, 32));
		else
			fprintf(f, " speed unlimited");
	}
	fprintf(f, " cbw %" PRIu64 " zero %" PRIu64 " errors %" PRIu64, s->cbw, s->zero,
		errors);
	if (errors || s->skipped || s->last_error)
		fprintf(f, " (source %" PRIu64 ", target %" PRIu64 ", skipped %" PRIu64
			", last %" PRId64 " at chunk %" PRIu64 ")", s->source_errors,
			s->target_errors, s->skipped, s->last_error, s->last_error_chunk);
	/* -ETIMEDOUT: the stall watchdog (cbw_timeout) or a stalled suspend. */
	if (s->last_error == -ETIMEDOUT && strcmp(s->state, "completed"))
		fprintf(f, " %s", !strcmp(s->state, "failed") ?
			"- failed: the backup device stalled (a copy outlasted cbw_timeout)" :
			"- writes failed: the backup device stalled past cbw_timeout");
	/*
	 * The counters and the last error stay after the walk retried the
	 * chunks that failed (the stop policy and resume): say that they did
	 * not cost the backup anything.
	 */
	if ((errors || s->last_error) && !s->skipped && !strcmp(s->state, "completed"))
		fprintf(f, " - errors recovered, the backup is complete");
	fputc('\n', f);
}

static const char status_usage[] =
"usage: dmbackup status [--interval SECONDS] [<volume>]\n"
"\n"
"Show every backup job (every dm device whose table has a backup target),\n"
"or the one on <volume>: mode, state, progress, copied/total chunks, rate\n"
"and ETA, copy-before-write and zero chunks, errors.  The rate is measured\n"
"over --interval seconds (default 1; 0 skips it) while a job runs.\n";

static const struct option interval_opts[] = {
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ NULL, 0, NULL, 0 }
};

/* --interval SECONDS of status and wait: @ctx is the double it sets. */
static int interval_opt(void *ctx, int key, const char *val)
{
	double *interval = ctx;
	char *end;

	errno = 0;
	*interval = strtod(val, &end);
	if (errno || end == val || *end || *interval < 0)
		return bad_value("interval", val, "seconds, 0 or more");
	return EX_OK;
}

struct job {
	char name[DM_NAME_LEN];
	struct bstatus s;
};

struct job_list {
	struct job *jobs;
	int n;
	int orphans;
};

/* is_orphan - @name has a hidden device, but (the caller saw) no backup table. */
static bool is_orphan(const char *name)
{
	char hidden[DM_NAME_LEN + sizeof(HIDDEN_SUFFIX)];

	snprintf(hidden, sizeof(hidden), "%s%s", name, HIDDEN_SUFFIX);
	return strlen(hidden) < DM_NAME_LEN && dev_exists(hidden);
}

/* collect_job - for_each_dm_device(): add @name to the list if it runs a job. */
static void collect_job(const char *name, void *ctx)
{
	struct job_list *jl = ctx;
	struct table st;
	int bi;

	if (!read_table(name, DM_DEVICE_STATUS, &st))
		return;
	bi = backup_target(&st);
	if (bi < 0 && is_orphan(name)) {
		printf("%s: no backup job, but %s%s is left: %s\n",
		       name, name, HIDDEN_SUFFIX, ORPHAN_HINT);
		jl->orphans++;
	}
	if (bi >= 0) {
		jl->jobs = realloc(jl->jobs, (jl->n + 1) * sizeof(*jl->jobs));
		if (!jl->jobs) {
			err("out of memory");
			exit(EX_ERR);
		}
		snprintf(jl->jobs[jl->n].name, DM_NAME_LEN, "%s", name);
		if (parse_status(st.t[bi].params, &jl->jobs[jl->n].s))
			jl->n++;
	}
	table_free(&st);
}

static int cmd_status(int argc, char **argv)
{
	double interval = 1, t0, t1;
	struct cmd_line cl = {
		.name = "status", .usage = status_usage, .opts = interval_opts,
		.min_pos = 0, .max_pos = 1, .opt = interval_opt, .ctx = &interval,
	};
	const char *vol_arg;
	struct job *jobs = NULL;
	int njobs = 0, orphans = 0, i;
	bool running = false;

	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	vol_arg = cl.npos ? cl.pos[0] : NULL;
	if (vol_arg) {
		struct volume v;

		if (!resolve_volume(vol_arg, &v))
			return EX_ERR;
		jobs = calloc(1, sizeof(*jobs));
		if (!jobs || !job_status(&v, &jobs[0].s, NULL))
			return EX_ERR;
		snprintf(jobs[0].name, sizeof(jobs[0].name), "%s", v.name);
		njobs = 1;
	} else {
		struct job_list jl = { NULL, 0, 0 };

		if (!for_each_dm_device(collect_job, &jl))
			return EX_ERR;
		jobs = jl.jobs;
		njobs = jl.n;
		orphans = jl.orphans;
	}
	if (!njobs) {
		if (!orphans)
			printf("no backup jobs\n");
		free(jobs);
		return orphans ? EX_ERR : EX_OK;
	}
	for (i = 0; i < njobs; i++)
		running |= !job_ended(&jobs[i].s);
	t0 = now();
	if (running && interval > 0) {
		struct timespec ts = { (time_t)interval,
				       (long)((interval - (time_t)interval) * 1e9) };

		nanosleep(&ts, NULL);
	}
	t1 = now();
	for (i = 0; i < njobs; i++) {
		struct bstatus s2 = jobs[i].s;
		struct table st;
		double rate = -1;

		if (running && interval > 0 && read_table(jobs[i].name, DM_DEVICE_STATUS, &st)) {
			int bi = backup_target(&st);

			if (bi >= 0 && parse_status(st.t[bi].params, &s2) &&
			    s2.copied >= jobs[i].s.copied)
				rate = (s2.copied - jobs[i].s.copied) * s2.chunk_sectors *
				       512.0 / (t1 - t0);
			table_free(&st);
		}
		print_job(stdout, jobs[i].name, &s2, rate);
	}
	free(jobs);
	return orphans ? EX_ERR : EX_OK;
}

/* ---- wait ------------------------------------------------------------------------ */

/*
 * The waiter thread sleeps in DM_DEVICE_WAITEVENT (as dmeventd's threads
 * do) and writes a byte to a pipe for every dm event: the main thread
 * re-reads the status only then, or when it redraws the progress display.
 */
struct waiter {
	char name[DM_NAME_LEN];
	uint32_t event_nr;
	int fd;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;
	uint32_t ev = w->event_nr;

	dm_quiet = true;	/* the main thread reports a vanished device */

	for (;;) {
		struct dm_task *dmt = task(DM_DEVICE_WAITEVENT, w->name);
		struct dm_info info;
		char c = 'e';

		if (!dm_task_set_event_nr(dmt, ev) || !dm_task_run(dmt) ||
		    !dm_task_get_info(dmt, &info) || !info.exists)
			c = 'x';
		else
			ev = info.event_nr;
		dm_task_destroy(dmt);
		if (write(w->fd, &c, 1) != 1 || c == 'x')
			return NULL;
	}
}

static const char wait_usage[] =
"usage: dmbackup wait [--interval SECONDS] <volume>\n"
"\n"
"Wait for the backup job on <volume> to end, sleeping on dm events.  On a\n"
"terminal, shows a progress bar (percentage, rate, ETA); otherwise prints a\n"
"plain line at the start, at every event and every --interval seconds\n"
"(default 10; 0: only at events).  Exit code: 0 completed, 3 failed,\n"
"4 cancelled, 5 completed with skipped chunks, 1 error.\n";

static int cmd_wait(int argc, char **argv)
{
	double interval = 10, t_prev, rate = -1;
	struct cmd_line cl = {
		.name = "wait", .usage = wait_usage, .opts = interval_opts,
		.min_pos = 1, .max_pos = 1, .opt = interval_opt, .ctx = &interval,
	};
	const char *vol_arg;
	static struct waiter w;	/* the detached waiter outlives this frame */
	struct volume v;
	struct bstatus s;
	pthread_t thr;
	int pfd[2] = { -1, -1 }, i, timeout;
	uint64_t c_prev;
	bool tty = isatty(STDOUT_FILENO), drawn = false;

	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	vol_arg = cl.pos[0];
	if (!resolve_volume(vol_arg, &v))
		return EX_ERR;
	/* The event number first, then the status: no event can be missed. */
	if (!get_info(v.name, &v.info) || !job_status(&v, &s, NULL))
		return EX_ERR;
	if (!job_ended(&s)) {
		snprintf(w.name, sizeof(w.name), "%s", v.name);
		w.event_nr = v.info.event_nr;
		if (pipe(pfd) || (w.fd = pfd[1], pthread_create(&thr, NULL, waiter_thread, &w))) {
			err("cannot start the event waiter");
			return EX_ERR;
		}
		pthread_detach(thr);
		if (!tty)
			print_job(stdout, v.name, &s, -1);
		fflush(stdout);
	}
	/*
	 * A table replaced under the job (lvchange --refresh) raises no dm
	 * event: look every 10 s even when only events are to be printed.
	 */
	timeout = tty ? 1000 : interval > 0 ? (int)(interval * 1000) : 10000;
	t_prev = now();
	c_prev = s.copied;
	while (!job_ended(&s)) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double t;
		char c;

		if (poll(&p, 1, timeout) < 0 && errno != EINTR) {
			err("poll: %s", strerror(errno));
			return EX_ERR;
		}
		if (p.revents) {
			if (read(pfd[0], &c, 1) != 1 || c == 'x') {
				if (drawn)
					fputc('\n', stdout);
				err("%s: waiting for events failed (device removed?)", v.name);
				return EX_ERR;
			}
		}
		if (!job_status(&v, &s, NULL)) {
			if (drawn)
				fputc('\n', stdout);
			/* The job was there: it is gone unfinished. */
			return EX_JOB_FAILED;
		}
		t = now();
		if (t - t_prev >= 0.5 && s.copied >= c_prev) {
			double r = (s.copied - c_prev) * s.chunk_sectors * 512.0 / (t - t_prev);

			rate = rate < 0 ? r : 0.5 * rate + 0.5 * r;
			t_prev = t;
			c_prev = s.copied;
		}
		if (job_ended(&s))
			break;
		if (tty) {
			char r[32], e[32], bar[31];
			int fill = (int)(30 * s.copied / s.total);

			memset(bar, '#', fill);
			memset(bar + fill, '-', 30 - fill);
			bar[30] = 0;
			printf("\r%s [%s] %5.1f%% %s/s ETA %s %s\033[K", v.name, bar,
			       100.0 * s.copied / s.total, human(rate > 0 ? rate : 0, r, 32),
			       rate > 0 ? hms((s.total - s.copied) * s.chunk_sectors * 512.0 /
					      rate, e, 32) : "-", s.state);
			drawn = true;
		} else if (p.revents || interval > 0) {
			/* An event or the --interval timeout. */
			print_job(stdout, v.name, &s, rate);
		}
		fflush(stdout);
	}
	if (drawn)
		printf("\r\033[K");
	print_job(stdout, v.name, &s, -1);
	fflush(stdout);
	if (!strcmp(s.state, "completed"))
		return s.skipped ? EX_JOB_SKIPPED : EX_OK;
	if (!strcmp(s.state, "cancelled"))
		return EX_JOB_CANCELLED;
	return EX_JOB_FAILED;
}

/* ---- messages ---------------------------------------------------------------- */

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
static int cmd_message(int argc, char **argv)
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

/* ---- main ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: dmbackup <command> [args]   (dmbackup <command> --help for details)\n"
"\n"
"  start <volume> <backup_device> [options]  start a backup of a live volume\n"
"  status [<volume>]                         show the backup jobs\n"
"  wait <volume>                             wait for the job to end\n"
"  speed <volume> RATE                       change the rate limit\n"
"  pause <volume> | resume <volume>          pause / resume the background copy\n"
"  cancel <volume>                           cancel the job\n"
"  finish <volume>                           restore the volume's own table\n"
"  view <volume> <name> | view --remove <name>\n"
"                                            a read-only device of the image\n"
"  map --chunk-sectors N --sectors LEN -o MAP SOURCE\n"
"                                            the map of a --mode top backup\n"
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
	{ "map", cmd_map },
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
	/*
	 * Without udev (DM_DISABLE_UDEV=1, as in initramfs environments),
	 * libdevmapper creates and removes the /dev/mapper nodes itself; see
	 * run_nodes().
	 */
	if (getenv("DM_DISABLE_UDEV"))
		dm_udev_set_sync_support(0);
	dm_log_with_errno_init(dm_log);

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(cmd, commands[i].name))
			r = commands[i].run(argc - 1, argv + 1);
	if (r < 0) {
		err("unknown command '%s'", cmd);
		usage(stderr);
		r = EX_USAGE;
	}
	dm_lib_release();
	dm_lib_exit();
	return r;
}
