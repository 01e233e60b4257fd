// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup - run dm-backup jobs on live device-mapper volumes.
 *
 *   dmbackup start <volume> <backup_device> [options]
 *   dmbackup status [<volume>]
 *   dmbackup wait <volume>
 *   dmbackup speed <volume> RATE | pause | resume | cancel <volume>
 *   dmbackup finish <volume>
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define HIDDEN_SUFFIX "-dmbackup-origin"
#ifndef DM_NAME_LEN
#define DM_NAME_LEN 128		/* <linux/dm-ioctl.h> */
#endif

/* Exit codes (documented in dmbackup.8). */
enum {
	EX_OK = 0,		/* success; wait: the job completed */
	EX_ERR = 1,		/* refused or failed; the volume is unchanged */
	EX_USAGE = 2,		/* bad command line */
	EX_JOB_FAILED = 3,	/* wait: the job failed */
	EX_JOB_CANCELLED = 4,	/* wait: the job was cancelled */
	EX_JOB_SKIPPED = 5,	/* wait: completed, but chunks were skipped */
};

static const char *prog = "dmbackup";

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...)
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
 * variable DMBACKUP_FAIL_AT names @step.  The caller then behaves exactly as
 * if the operation of that step had failed.
 */
static bool fail_at(const char *step)
{
	const char *s = getenv("DMBACKUP_FAIL_AT");

	if (!s || strcmp(s, step))
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

/* read_table - the live table (DM_DEVICE_TABLE) or status (DM_DEVICE_STATUS). */
static bool read_table(const char *name, int type, struct table *tb)
{
	struct dm_task *dmt = task(type, name);
	void *next = NULL;
	uint64_t start, len;
	char *ttype, *params;

	memset(tb, 0, sizeof(*tb));
	if (!dm_task_run(dmt)) {
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

static bool add_targets(struct dm_task *dmt, const struct table *tb)
{
	for (int i = 0; i < tb->n; i++)
		if (!dm_task_add_target(dmt, tb->t[i].start, tb->t[i].len,
					tb->t[i].type, tb->t[i].params))
			return false;
	return true;
}

/* create_dev - create and resume a device with @tb (DM_DEVICE_CREATE). */
static bool create_dev(const char *name, const struct table *tb, bool ro)
{
	struct dm_task *dmt = task(DM_DEVICE_CREATE, name);
	bool ok = add_targets(dmt, tb) && (!ro || dm_task_set_ro(dmt)) &&
		  run_nodes(dmt);

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
 * resolve_volume - @arg is a device path (/dev/mapper/x, /dev/dm-N, a
 * /dev/vg/lv symlink) or a dm device name.  Refuses anything that is not a
 * device-mapper device.
 */
static bool resolve_volume(const char *arg, struct volume *v)
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

/* job_status - the status of @v's backup job; false (and a message) if none. */
static bool job_status(const struct volume *v, struct bstatus *s, uint64_t *sector)
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
	if (sector)
		*sector = st.t[i].start;
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
 * restore_after_start_resume - the resume that should have switched the
 * backup table in failed (or DMBACKUP_FAIL_AT=resume-after says so): put the
 * volume back as it was, whichever table is live now.
 */
static bool restore_after_start_resume(const struct volume *v, const struct table *orig,
				       bool ro)
{
	struct dm_info info;
	struct table live;
	bool swapped, ok = true;

	if (!read_table(v->name, DM_DEVICE_TABLE, &live))
		return false;
	swapped = backup_target(&live) >= 0;
	table_free(&live);
	if (swapped) {
		/* The backup table is live: load the original table back. */
		ok = load_table(v->name, orig, ro);
		if (ok && get_info(v->name, &info) && !info.suspended)
			ok = suspend_volume(v->name);
	} else {
		/* The old table is still live, maybe suspended. */
		simple_op(DM_DEVICE_CLEAR, v->name);
	}
	return ok && simple_op(DM_DEVICE_RESUME, v->name);
}

static void start_usage(FILE *f)
{
	fprintf(f,
"usage: dmbackup start <volume> <backup_device> [--mode full|none]\n"
"           [--mode top --map MAP_DEVICE] [--speed RATE]\n"
"           [--on-source-error report|ignore|stop]\n"
"           [--on-target-error report|ignore|stop|enospc]\n"
"           [--on-cbw-error break_backup|fail_write] [--chunk-size SECTORS]\n"
"\n"
"Start a point-in-time backup of a live device-mapper volume (which may be\n"
"mounted and busy) to <backup_device>.  The volume's table moves to a hidden\n"
"device <name>" HIDDEN_SUFFIX " and a backup table over it is switched in\n"
"under the volume's name in one suspend/resume: that resume is the point in\n"
"time.  RATE is bytes per second with an optional K, M, G or T suffix\n"
"(powers of 1024), 0 for unlimited.  SECTORS: a power of two, 8 to 2048.\n"
"--mode none copies only what writes are about to change; --mode top copies\n"
"the chunks MAP_DEVICE marks (one bit per chunk, see dmbackup-map).\n"
"Refuses a volume that is not a dm device or already has a backup job, and a\n"
"backup device that is too small or in use.  On any failure the volume is\n"
"left exactly as it was.\n");
}

static int cmd_start(int argc, char **argv)
{
	static const char *const src_pol[] = { "report", "ignore", "stop", NULL };
	static const char *const tgt_pol[] = { "report", "ignore", "stop", "enospc", NULL };
	static const char *const cbw_pol[] = { "break_backup", "fail_write", NULL };
	static const char *const modes[] = { "full", "top", "none", NULL };
	const char *mode = "full", *vol_arg = NULL, *bdev_arg = NULL;
	const char *map = NULL;
	const char *src = NULL, *tgt = NULL, *cbw = NULL;
	char opts[256] = "", params[512];
	uint64_t speed = 0, chunk = 0, size;
	bool have_speed = false;
	struct table orig, bk = { 0 };
	struct target bkt;
	struct dm_info hinfo;
	struct volume v;
	dev_t bdev;
	int nopt = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			start_usage(stdout);
			return EX_OK;
		}
		if (a[0] != '-' || !a[1]) {
			if (!vol_arg)
				vol_arg = a;
			else if (!bdev_arg)
				bdev_arg = a;
			else
				goto usage;
			continue;
		}
		if (!val)
			goto usage;
		i++;
		if (!strcmp(a, "--mode")) {
			mode = val;
			if (!one_of(mode, modes)) {
				err("--mode %s: full, top or none", mode);
				return EX_USAGE;
			}
		} else if (!strcmp(a, "--map")) {
			map = val;
		} else if (!strcmp(a, "--speed")) {
			if (!parse_rate(val, &speed)) {
				err("--speed %s: not a rate (e.g. 33554432, 32M, 1G)", val);
				return EX_USAGE;
			}
			have_speed = true;
		} else if (!strcmp(a, "--chunk-size")) {
			char *end;

			chunk = strtoull(val, &end, 10);
			if (*end || chunk < 8 || chunk > 2048 || (chunk & (chunk - 1))) {
				err("--chunk-size %s: a power of two from 8 to 2048 sectors", val);
				return EX_USAGE;
			}
		} else if (!strcmp(a, "--on-source-error")) {
			src = val;
			if (!one_of(src, src_pol)) {
				err("--on-source-error %s: report, ignore or stop", src);
				return EX_USAGE;
			}
		} else if (!strcmp(a, "--on-target-error")) {
			tgt = val;
			if (!one_of(tgt, tgt_pol)) {
				err("--on-target-error %s: report, ignore, stop or enospc", tgt);
				return EX_USAGE;
			}
		} else if (!strcmp(a, "--on-cbw-error")) {
			cbw = val;
			if (!one_of(cbw, cbw_pol)) {
				err("--on-cbw-error %s: break_backup or fail_write", cbw);
				return EX_USAGE;
			}
		} else {
			goto usage;
		}
	}
	if (!vol_arg || !bdev_arg)
		goto usage;
	if (!strcmp(mode, "top") != !!map) {
		err("--mode top needs --map, and --map is only for --mode top");
		return EX_USAGE;
	}

	/* Optional table arguments, in the kernel's canonical order. */
#define ADD_OPT(fmt, ...) do { \
		size_t l = strlen(opts); \
		snprintf(opts + l, sizeof(opts) - l, fmt, __VA_ARGS__); \
		nopt += 2; \
	} while (0)
	if (have_speed && speed)
		ADD_OPT(" speed %" PRIu64, speed);
	if (chunk)
		ADD_OPT(" chunk_size %" PRIu64, chunk);
	if (src)
		ADD_OPT(" on_source_error %s", src);
	if (tgt)
		ADD_OPT(" on_target_error %s", tgt);
	if (cbw)
		ADD_OPT(" on_cbw_error %s", cbw);
	if (map)
		ADD_OPT(" map %s", map);
#undef ADD_OPT

	if (!resolve_volume(vol_arg, &v))
		return EX_ERR;
	if (!v.info.live_table) {
		err("%s has no live table", v.name);
		return EX_ERR;
	}
	if (v.info.suspended) {
		err("%s is suspended: resume it first", v.name);
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
	if (fail_at("create") || !create_dev(v.hidden, &orig, v.info.read_only)) {
		err("cannot create %s; %s is unchanged", v.hidden, v.name);
		if (dev_exists(v.hidden))
			simple_op(DM_DEVICE_REMOVE, v.hidden);
		return EX_ERR;
	}
	if (!get_info(v.hidden, &hinfo) || !hinfo.exists) {
		err("%s vanished", v.hidden);
		return EX_ERR;
	}

	/* 2. The backup table into the volume's inactive slot. */
	snprintf(params, sizeof(params), "%u:%u %u:%u %s%s%.0d%s", hinfo.major,
		 hinfo.minor, major(bdev), minor(bdev), mode, nopt ? " " : "",
		 nopt, opts);
	bkt = (struct target){ 0, size, "backup", params };
	bk.n = 1;
	bk.t = &bkt;
	if (fail_at("load") || !load_table(v.name, &bk, v.info.read_only)) {
		err("cannot load the backup table '0 %" PRIu64 " backup %s' into %s "
		    "(the kernel log says why); %s is unchanged", size, params,
		    v.name, v.name);
		goto undo_load;
	}

	/* 3. Suspend: flushes and freezes the filesystem on the volume. */
	if (fail_at("suspend") || !suspend_volume(v.name)) {
		err("cannot suspend %s; it is unchanged", v.name);
		goto undo_load;
	}

	/* 4. Resume: swaps the backup table in.  The point in time. */
	if (fail_at("resume") || !simple_op(DM_DEVICE_RESUME, v.name) ||
	    fail_at("resume-after")) {
		err("cannot resume %s with the backup table; restoring it", v.name);
		if (!restore_after_start_resume(&v, &orig, v.info.read_only)) {
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
			err("%s is restored as it was", v.name);
		return EX_ERR;
	}
	printf("%s: backup to %s started: %" PRIu64 " sectors, origin moved to %s\n",
	       v.name, bdev_arg, size, v.hidden);
	table_free(&orig);
	return EX_OK;

undo_load:
	simple_op(DM_DEVICE_CLEAR, v.name);
	if (get_info(v.name, &v.info) && v.info.suspended)
		simple_op(DM_DEVICE_RESUME, v.name);
	if (!simple_op(DM_DEVICE_REMOVE, v.hidden))
		err("could not remove %s: remove it by hand", v.hidden);
	table_free(&orig);
	return EX_ERR;
usage:
	start_usage(stderr);
	return EX_USAGE;
}

/* ---- finish -------------------------------------------------------------------- */

static void finish_usage(FILE *f)
{
	fprintf(f,
"usage: dmbackup finish [--force] <volume>\n"
"\n"
"End the backup job on <volume>: put the volume's original table (read from\n"
"<name>" HIDDEN_SUFFIX ") back under its name in one suspend/resume, and\n"
"remove the hidden device.  Refuses while the job is running or paused\n"
"unless --force is given (which abandons the job: the backup is incomplete).\n"
"On any failure the volume is left as it was.\n");
}

static int cmd_finish(int argc, char **argv)
{
	const char *vol_arg = NULL;
	struct table live, orig;
	struct dm_info hinfo, info;
	struct bstatus s;
	struct volume v;
	unsigned int oma, omi;
	bool force = false, swapped;
	int i, bi;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			finish_usage(stdout);
			return EX_OK;
		} else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")) {
			force = true;
		} else if (argv[i][0] != '-' && !vol_arg) {
			vol_arg = argv[i];
		} else {
			finish_usage(stderr);
			return EX_USAGE;
		}
	}
	if (!vol_arg) {
		finish_usage(stderr);
		return EX_USAGE;
	}
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
	fputc('\n', f);
}

static void status_usage(FILE *f)
{
	fprintf(f,
"usage: dmbackup status [--interval SECONDS] [<volume>]\n"
"\n"
"Show every backup job (every dm device whose table has a backup target),\n"
"or the one on <volume>: mode, state, progress, copied/total chunks, rate\n"
"and ETA, copy-before-write and zero chunks, errors.  The rate is measured\n"
"over --interval seconds (default 1; 0 skips it) while a job runs.\n");
}

struct job {
	char name[DM_NAME_LEN];
	struct bstatus s;
};

/* is_orphan - @name has a hidden device, but (the caller saw) no backup table. */
static bool is_orphan(const char *name)
{
	char hidden[DM_NAME_LEN + sizeof(HIDDEN_SUFFIX)];

	snprintf(hidden, sizeof(hidden), "%s%s", name, HIDDEN_SUFFIX);
	return strlen(hidden) < DM_NAME_LEN && dev_exists(hidden);
}

static int cmd_status(int argc, char **argv)
{
	const char *vol_arg = NULL;
	struct job *jobs = NULL;
	int njobs = 0, orphans = 0, i;
	double interval = 1, t0, t1;
	bool running = false;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			status_usage(stdout);
			return EX_OK;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			interval = atof(argv[++i]);
		} else if (argv[i][0] != '-' && !vol_arg) {
			vol_arg = argv[i];
		} else {
			status_usage(stderr);
			return EX_USAGE;
		}
	}
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
		struct dm_task *dmt = task(DM_DEVICE_LIST, NULL);
		struct dm_names *names;
		unsigned int next = 0;

		if (!dm_task_run(dmt) || !(names = dm_task_get_names(dmt))) {
			err("cannot list the device-mapper devices");
			return EX_ERR;
		}
		if (names->dev) {
			do {
				struct table st;
				int bi;

				names = (struct dm_names *)((char *)names + next);
				next = names->next;
				if (!read_table(names->name, DM_DEVICE_STATUS, &st))
					continue;
				bi = backup_target(&st);
				if (bi < 0 && is_orphan(names->name)) {
					printf("%s: no backup job, but %s%s is left: %s\n",
					       names->name, names->name, HIDDEN_SUFFIX,
					       ORPHAN_HINT);
					orphans++;
				}
				if (bi >= 0) {
					jobs = realloc(jobs, (njobs + 1) * sizeof(*jobs));
					if (!jobs)
						return EX_ERR;
					snprintf(jobs[njobs].name, DM_NAME_LEN, "%s",
						 names->name);
					if (parse_status(st.t[bi].params, &jobs[njobs].s))
						njobs++;
				}
				table_free(&st);
			} while (next);
		}
		dm_task_destroy(dmt);
	}
	if (!njobs) {
		if (!orphans)
			printf("no backup jobs\n");
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

static void wait_usage(FILE *f)
{
	fprintf(f,
"usage: dmbackup wait [--interval SECONDS] <volume>\n"
"\n"
"Wait for the backup job on <volume> to end, sleeping on dm events.  On a\n"
"terminal, shows a progress bar (percentage, rate, ETA); otherwise prints a\n"
"plain line at the start, at every event and every --interval seconds\n"
"(default 10; 0: only at events).  Exit code: 0 completed, 3 failed,\n"
"4 cancelled, 5 completed with skipped chunks, 1 error.\n");
}

static int cmd_wait(int argc, char **argv)
{
	const char *vol_arg = NULL;
	static struct waiter w;	/* the detached waiter outlives this frame */
	struct volume v;
	struct bstatus s;
	pthread_t thr;
	int pfd[2] = { -1, -1 }, i, timeout;
	double interval = 10, t_prev, rate = -1;
	uint64_t c_prev;
	bool tty = isatty(STDOUT_FILENO), drawn = false;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			wait_usage(stdout);
			return EX_OK;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			interval = atof(argv[++i]);
		} else if (argv[i][0] != '-' && !vol_arg) {
			vol_arg = argv[i];
		} else {
			wait_usage(stderr);
			return EX_USAGE;
		}
	}
	if (!vol_arg) {
		wait_usage(stderr);
		return EX_USAGE;
	}
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

static int cmd_message(int argc, char **argv)
{
	const char *cmd = argv[0], *vol_arg = NULL, *rate_arg = NULL;
	char msg[64];
	struct volume v;
	struct bstatus s;
	uint64_t sector, rate = 0;
	bool is_speed = !strcmp(cmd, "speed");
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			if (is_speed)
				printf("usage: dmbackup speed <volume> RATE\n\nChange the "
				       "rate limit of the job's background copy: bytes per\n"
				       "second with an optional K, M, G or T suffix, 0 for "
				       "unlimited.\n");
			else
				printf("usage: dmbackup %s <volume>\n\n%s\n", cmd,
				       !strcmp(cmd, "pause") ?
				       "Pause the job's background copy (copy-before-write goes on)." :
				       !strcmp(cmd, "resume") ? "Resume a paused job." :
				       "Cancel the job (the backup is incomplete); then run\n"
				       "'dmbackup finish <volume>'.");
			return EX_OK;
		} else if (!vol_arg) {
			vol_arg = argv[i];
		} else if (is_speed && !rate_arg) {
			rate_arg = argv[i];
		} else {
			goto usage;
		}
	}
	if (!vol_arg || (is_speed && !rate_arg))
		goto usage;
	if (is_speed) {
		if (!parse_rate(rate_arg, &rate)) {
			err("%s: not a rate (e.g. 33554432, 32M, 1G)", rate_arg);
			return EX_USAGE;
		}
		snprintf(msg, sizeof(msg), "speed %" PRIu64, rate);
	} else {
		snprintf(msg, sizeof(msg), "%s", cmd);
	}
	if (!resolve_volume(vol_arg, &v) || !job_status(&v, &s, &sector))
		return EX_ERR;
	if (!send_message(v.name, sector, msg)) {
		err("%s: the job refused '%s' (state %s)", v.name, msg, s.state);
		return EX_ERR;
	}
	if (job_status(&v, &s, NULL))
		print_job(stdout, v.name, &s, -1);
	return EX_OK;
usage:
	fprintf(stderr, "usage: dmbackup %s <volume>%s\n", cmd, is_speed ? " RATE" : "");
	return EX_USAGE;
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
"\n"
"<volume>: /dev/mapper/NAME, /dev/dm-N, a /dev/VG/LV link, or a dm name.\n"
"See dmbackup(8).\n");
}

int main(int argc, char **argv)
{
	const char *cmd;
	int r;

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

	if (!strcmp(cmd, "start"))
		r = cmd_start(argc - 1, argv + 1);
	else if (!strcmp(cmd, "finish"))
		r = cmd_finish(argc - 1, argv + 1);
	else if (!strcmp(cmd, "status"))
		r = cmd_status(argc - 1, argv + 1);
	else if (!strcmp(cmd, "wait"))
		r = cmd_wait(argc - 1, argv + 1);
	else if (!strcmp(cmd, "speed") || !strcmp(cmd, "pause") ||
		 !strcmp(cmd, "resume") || !strcmp(cmd, "cancel"))
		r = cmd_message(argc - 1, argv + 1);
	else {
		err("unknown command '%s'", cmd);
		usage(stderr);
		r = EX_USAGE;
	}
	dm_lib_release();
	dm_lib_exit();
	return r;
}
