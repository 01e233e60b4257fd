// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: the libdevmapper glue.  The only file that makes a dm_task:
 * tables in and out, create/load/suspend/resume/clear/remove, messages,
 * events, and the parsing of the backup target's status line.  Callers
 * deal in names, struct table and struct bstatus.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "dmbackup.h"

/* ---- tables and status -------------------------------------------------- */

void table_free(struct table *tb)
{
	for (int i = 0; i < tb->n; i++) {
		free(tb->t[i].type);
		free(tb->t[i].params);
	}
	free(tb->t);
	tb->n = 0;
	tb->t = NULL;
}

uint64_t table_len(const struct table *tb)
{
	return tb->n ? tb->t[tb->n - 1].start + tb->t[tb->n - 1].len : 0;
}

bool job_ended(const struct bstatus *s)
{
	return strcmp(s->state, "running") && strcmp(s->state, "paused");
}

/* job_tracks - the job records the chunks written (table option track). */
bool job_tracks(const struct bstatus *s)
{
	return s->changed[0] && strcmp(s->changed, "-");
}

bool parse_status(const char *params, struct bstatus *s)
{
	memset(s, 0, sizeof(*s));
	s->nfields = sscanf(params,
		"%15s %15s %" SCNu64 "/%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		" %" SCNd64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		" %39s %15s %23s",
		s->mode, s->state, &s->copied, &s->total, &s->chunk_sectors, &s->cbw,
		&s->zero, &s->last_error, &s->last_error_chunk, &s->source_errors,
		&s->target_errors, &s->skipped, &s->speed, s->uuid, s->persistence,
		s->changed);
	/* A kernel without persistent jobs stops at speed. */
	if (s->nfields < 15)
		s->uuid[0] = s->persistence[0] = '\0';
	/* Nor changed_chunks: a kernel without change tracking. */
	if (s->nfields < 16)
		s->changed[0] = '\0';
	/* An increment of a record of no chunks copies none. */
	return s->nfields >= 5 && (s->total > 0 || job_tracks(s));
}

/* ---- libdevmapper ------------------------------------------------------- */

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
	va_start(ap, f);
	verr(f, ap);
	va_end(ap);
}

static struct dm_task *task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (!dmt) {
		err("cannot talk to device-mapper (is dm-mod loaded? are you root?)");
		exit(EX_ERR);
	}
	if (name && !dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
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

bool get_info(const char *name, struct dm_info *info)
{
	struct dm_task *dmt = task(DM_DEVICE_INFO, name);
	bool ok = dm_task_run(dmt) && dm_task_get_info(dmt, info);

	dm_task_destroy(dmt);
	if (!ok)
		memset(info, 0, sizeof(*info));
	return ok;
}

/*
 * get_info_by_dev - the info and name (into @name, @len bytes) of the dm
 * device @dev; false if there is none.
 */
bool get_info_by_dev(dev_t dev, struct dm_info *info, char *name, size_t len)
{
	struct dm_task *dmt = task(DM_DEVICE_INFO, NULL);
	const char *n;
	bool ok;

	ok = dm_task_set_major(dmt, major(dev)) &&
	     dm_task_set_minor(dmt, minor(dev)) &&
	     dm_task_run(dmt) && dm_task_get_info(dmt, info) &&
	     info->exists && (n = dm_task_get_name(dmt)) && *n;
	if (ok)
		snprintf(name, len, "%s", n);
	dm_task_destroy(dmt);
	return ok;
}

bool dev_exists(const char *name)
{
	struct dm_info info;

	return get_info(name, &info) && info.exists;
}

/*
 * read_table_slot - the table (DM_DEVICE_TABLE) or status (DM_DEVICE_STATUS)
 * of @name, of its inactive (loaded, not yet resumed) table if @inactive.
 */
bool read_table_slot(const char *name, int type, bool inactive,
		     struct table *tb)
{
	struct dm_task *dmt = task(type, name);
	struct target *t;
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
		t = realloc(tb->t, (tb->n + 1) * sizeof(*tb->t));
		if (!t)
			goto oom;
		tb->t = t;
		t += tb->n;
		t->start = start;
		t->len = len;
		t->type = strdup(ttype);
		t->params = strdup(params ? params : "");
		tb->n++;	/* counted before the check: table_free() frees it */
		if (!t->type || !t->params)
			goto oom;
	} while (next);
	dm_task_destroy(dmt);
	return true;

oom:
	dm_task_destroy(dmt);
	table_free(tb);
	err("out of memory");
	exit(EX_ERR);
}

/* read_table - the live table or status of @name. */
bool read_table(const char *name, int type, struct table *tb)
{
	return read_table_slot(name, type, false, tb);
}

/*
 * for_each_dm_device - call @fn with the name of every dm device; false
 * (and a message) if the list cannot be read.
 */
bool for_each_dm_device(void (*fn)(const char *name, void *ctx), void *ctx)
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
bool create_dev(const char *name, const struct table *tb, bool ro, int *errp)
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
bool load_table(const char *name, const struct table *tb, bool ro)
{
	struct dm_task *dmt = task(DM_DEVICE_RELOAD, name);
	bool ok = add_targets(dmt, tb) && (!ro || dm_task_set_ro(dmt)) &&
		  dm_task_run(dmt);

	dm_task_destroy(dmt);
	return ok;
}

/* simple_op - DM_DEVICE_SUSPEND, _RESUME, _CLEAR or _REMOVE. */
bool simple_op(int type, const char *name)
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
bool suspend_volume(const char *name)
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

/*
 * unsuspend_unchanged - the undo of a suspend step that a table load went
 * before: clear the loaded table (or the resume would swap it in), then
 * resume the live one if the volume is still suspended.  False, and what
 * to do by hand, if it stays suspended.
 */
bool unsuspend_unchanged(const char *name)
{
	struct dm_info info;

	simple_op(DM_DEVICE_CLEAR, name);
	if (get_info(name, &info) && info.suspended &&
	    !simple_op(DM_DEVICE_RESUME, name)) {
		err("RESTORE FAILED: %s may still be suspended (dmsetup resume %s)",
		    name, name);
		return false;
	}
	return true;
}

bool send_message(const char *name, uint64_t sector, const char *msg)
{
	struct dm_task *dmt = task(DM_DEVICE_TARGET_MSG, name);
	bool ok = dm_task_set_sector(dmt, sector) && dm_task_set_message(dmt, msg) &&
		  dm_task_run(dmt);

	dm_task_destroy(dmt);
	return ok;
}

/*
 * wait_event - sleep in DM_DEVICE_WAITEVENT until @name's event counter
 * passes *@event_nr (as dmeventd's threads do); the new counter in
 * *@event_nr.  False if the device is gone or the ioctl failed.
 */
bool wait_event(const char *name, uint32_t *event_nr)
{
	struct dm_task *dmt = task(DM_DEVICE_WAITEVENT, name);
	struct dm_info info;
	bool ok = dm_task_set_event_nr(dmt, *event_nr) && dm_task_run(dmt) &&
		  dm_task_get_info(dmt, &info) && info.exists;

	if (ok)
		*event_nr = info.event_nr;
	dm_task_destroy(dmt);
	return ok;
}

/* ---- set-up ------------------------------------------------------------- */

void dm_quiet_thread(void)
{
	dm_quiet = true;
}

bool is_dm_dev(dev_t dev)
{
	return dm_is_dm_major(major(dev));
}

void dm_setup(void)
{
	/*
	 * Without udev (DM_DISABLE_UDEV=1, as in initramfs environments),
	 * libdevmapper creates and removes the /dev/mapper nodes itself; see
	 * run_nodes().
	 */
	if (getenv("DM_DISABLE_UDEV"))
		dm_udev_set_sync_support(0);
	dm_log_with_errno_init(dm_log);
}

void dm_teardown(void)
{
	dm_lib_release();
	dm_lib_exit();
}
