// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: volumes.  Resolving a volume argument (a path or a dm name) to
 * its dm name, the name of its hidden origin device, the backup job on it
 * (its status, its devices) and the views that read that job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dmbackup.h"

/* ---- volumes and their jobs --------------------------------------------- */

/*
 * resolve_dm - @arg is a device path (/dev/mapper/x, /dev/dm-N, a
 * /dev/vg/lv symlink) or a dm device name: fill in @v's name and info.
 * Refuses anything that is not a device-mapper device.
 */
bool resolve_dm(const char *arg, struct volume *v)
{
	struct stat st;

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
		if (!is_dm_dev(st.st_rdev)) {
			err("%s is not a device-mapper device", arg);
			return false;
		}
		if (!get_info_by_dev(st.st_rdev, &v->info, v->name,
				     sizeof(v->name))) {
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
bool resolve_volume(const char *arg, struct volume *v)
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
int backup_target(const struct table *tb)
{
	for (int i = 0; i < tb->n; i++)
		if (!strcmp(tb->t[i].type, "backup"))
			return i;
	return -1;
}

/*
 * job_status - the status of @v's backup job, and where its target is in
 * the table (@where's start and len, if not NULL); false (and a message)
 * if there is no job.
 */
bool job_status(const struct volume *v, struct bstatus *s, struct target *where)
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
/* ---- views -------------------------------------------------------------- */

/*
 * A view is a dm device with a backup-view target whose arguments are the
 * job's origin and backup device, as the kernel prints them ("major:minor",
 * dm_get_device).  It does not open the volume, which a mounted file system
 * holds exclusively.  It reads the job through the job registry, so it
 * survives reloads that hand the job over, but not `finish`, which replaces
 * the job by the original table.  Older views name the volume itself.
 */
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
bool job_devices(const struct volume *v, char *buf, size_t size)
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

/*
 * job_option - the value of the optional argument @key ("meta",
 * "increment", ...) of the backup job's table on @v, into @buf; false if
 * the table has none (or it does not fit).
 */
bool job_option(const struct volume *v, const char *key, char *buf,
		size_t size)
{
	char k[64], val[256];
	bool found = false;
	struct table tb;
	const char *p;
	int i, n, used;

	*buf = '\0';
	if (!read_table(v->name, DM_DEVICE_TABLE, &tb))
		return false;
	i = backup_target(&tb);
	/* "<origin> <backup> <mode> [<#opts> <opt> <value>...]" */
	if (i >= 0 &&
	    sscanf(tb.t[i].params, "%*s %*s %*s %d%n", &n, &used) == 1) {
		for (p = tb.t[i].params + used; n >= 2 && !found; n -= 2) {
			if (sscanf(p, " %63s %255s%n", k, val, &used) != 2)
				break;
			p += used;
			found = !strcmp(k, key);
		}
	}
	found = found && snprintf(buf, size, "%s", val) < (int)size;
	table_free(&tb);
	return found;
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
int find_views(const struct volume *v, struct view_search *vs)
{
	memset(vs, 0, sizeof(*vs));
	snprintf(vs->dev, sizeof(vs->dev), "%u:%u", v->info.major, v->info.minor);
	job_devices(v, vs->devs, sizeof(vs->devs));
	if (!for_each_dm_device(find_view, vs))
		return -1;
	return vs->n;
}

/* is_orphan - @name has a hidden device, but (the caller saw) no backup table. */
bool is_orphan(const char *name)
{
	char hidden[DM_NAME_LEN + sizeof(HIDDEN_SUFFIX)];

	snprintf(hidden, sizeof(hidden), "%s%s", name, HIDDEN_SUFFIX);
	return strlen(hidden) < DM_NAME_LEN && dev_exists(hidden);
}
