// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup job registry and handover.
 *
 * Every constructed instance is registered with its dm device.  When a
 * table is reloaded, the new instance is constructed while the old one is
 * live, and resumed after the old one was suspended (and drained) but
 * before it is destroyed.  If both name the same origin and backup device,
 * the new instance's constructor takes a reference to the old one's job
 * (struct backup_job: the copied bitmap, the counters, the state, the walk
 * position), and at preresume it becomes the instance that acts on it:
 * nothing moves, nothing is copied twice, and the point in time stays the
 * first resume of the first table.  Options that may change (speed, error
 * policies) come from the new table.  In a table with several backup
 * targets, each job goes to the new target on its origin and backup
 * device, wherever that target is in the table.
 *
 * The registry also keeps two devices from writing one backup device.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/mutex.h>

#include "dm-backup.h"

/*
 * Protects backup_jobs and every instance's @live.  Taken in ctr, dtr and
 * preresume only, which dm serialises per device but not across devices.
 */
static DEFINE_MUTEX(backup_jobs_lock);
static LIST_HEAD(backup_jobs);

static bool backup_same_devices(struct backup_c *a, struct backup_c *b)
{
	return a->origin->bdev == b->origin->bdev &&
	       a->backup->bdev == b->backup->bdev;
}

/*
 * The job a reload of @bc's device would take over, if any: a live job of
 * the same device, in another table, on the same origin and backup device.
 */
static struct backup_c *backup_live_job(struct backup_c *bc)
{
	struct backup_c *other;

	list_for_each_entry(other, &backup_jobs, jobs_entry)
		if (other->md == bc->md && other->ti->table != bc->ti->table &&
		    other->live && backup_same_devices(bc, other))
			return other;
	return NULL;
}

/* What a reload may not change about a running job. */
static int backup_check_reload(struct backup_c *bc, struct backup_c *old,
			       char **error)
{
	if (bc->sync_mode != old->sync_mode) {
		*error = "A reload cannot change the sync_mode of the running job";
		return -EINVAL;
	}
	if (bc->chunk_sectors != old->chunk_sectors) {
		*error = "A reload cannot change the chunk_size of the running job";
		return -EINVAL;
	}
	if (bc->map_dev != old->map_dev) {
		*error = "A reload cannot change the map of the running job";
		return -EINVAL;
	}
	if (bc->meta_dev != old->meta_dev) {
		*error = "A reload cannot change the metadata device of the running job";
		return -EINVAL;
	}
	if (bc->track != old->track) {
		*error = "A reload cannot change track of the running job";
		return -EINVAL;
	}
	if (bc->ti->len != old->ti->len) {
		*error = "A reload cannot change the length of the running job";
		return -EINVAL;
	}
	return 0;
}

/*
 * Register @bc with its dm device.  A table reloaded over a live job on the
 * same origin and backup device takes a reference to that job: @bc->job is
 * then set, else the caller creates a new one.
 */
int backup_register_job(struct backup_c *bc, char **error)
{
	struct backup_c *other;
	int r = 0;

	bc->md = dm_table_get_md(bc->ti->table);
	mutex_lock(&backup_jobs_lock);
	list_for_each_entry(other, &backup_jobs, jobs_entry) {
		if (bc->meta_dev && other->meta_dev == bc->meta_dev &&
		    other->md != bc->md) {
			*error = "Metadata device is in use by another backup job";
			r = -EBUSY;
			goto out;
		}
		if (other->backup->bdev != bc->backup->bdev)
			continue;
		if (other->md != bc->md) {
			*error = "Backup device is in use by another backup job";
			r = -EBUSY;
			goto out;
		}
		if (other->ti->table == bc->ti->table) {
			*error = "Backup device is used by two targets of the table";
			r = -EINVAL;
			goto out;
		}
	}
	/* An increment is a new job: it takes nothing over. */
	other = bc->increment ? NULL : backup_live_job(bc);
	if (other) {
		r = backup_check_reload(bc, other, error);
		if (r)
			goto out;
		bc->job = backup_job_get(other->job);
	}
	list_add(&bc->jobs_entry, &backup_jobs);
out:
	mutex_unlock(&backup_jobs_lock);
	return r;
}

/*
 * @bc's table goes: no view finds or follows it from now on.  If it acted
 * on its job, the job's views fail their reads.
 */
void backup_unregister_job(struct backup_c *bc)
{
	mutex_lock(&backup_jobs_lock);
	list_del_init(&bc->jobs_entry);
	backup_job_leave(bc->job, bc);
	mutex_unlock(&backup_jobs_lock);
}

/*
 * Does a target of @table hold @old's job?  A table holds each backup
 * device once, so at most one target does.
 */
static bool backup_table_takes(struct dm_table *table, struct backup_c *old)
{
	struct backup_c *bc;

	list_for_each_entry(bc, &backup_jobs, jobs_entry)
		if (bc->ti->table == table && bc->job == old->job)
			return true;
	return false;
}

/*
 * An increment's tracking job, on the same device and metadata device in
 * a table this one replaces, with a reference; NULL if none.
 */
static struct backup_job *backup_replaced_tracker(struct backup_c *bc)
{
	struct backup_job *job = NULL;
	struct backup_c *old;

	if (!bc->increment)
		return NULL;
	mutex_lock(&backup_jobs_lock);
	list_for_each_entry(old, &backup_jobs, jobs_entry)
		if (old->md == bc->md && old->ti->table != bc->ti->table &&
		    old->meta_dev == bc->meta_dev &&
		    !backup_table_takes(bc->ti->table, old)) {
			job = backup_job_get(old->job);
			break;
		}
	mutex_unlock(&backup_jobs_lock);
	return job;
}

/*
 * An increment writes the metadata device from now on: its tracking job
 * writes there no more.  Waits for that job's commit in flight, at most
 * cbw_timeout, without backup_jobs_lock; the replaced table, suspended,
 * holds the job until the resume has ended.
 */
static int backup_retire_tracker(struct backup_c *bc)
{
	struct backup_job *job = backup_replaced_tracker(bc);
	unsigned int ms = READ_ONCE(bc->cbw_timeout);
	int r;

	if (!job)
		return 0;
	r = backup_job_retire_meta(job, ms);
	backup_job_put(job);
	if (r)
		DMERR("%s: the increment cannot start: %s within %u ms; its record is lost",
		      dm_device_name(bc->md),
		      "the tracking job's commit did not end", ms);
	return r;
}

/*
 * At preresume: become the instance that acts on the job.  If the job was
 * the replaced table's (the constructor took a reference to it), that
 * table's instance, suspended and drained by now, stops acting on it and
 * the job's views follow (they reach the instance through job->live).
 * dm calls the preresume of each target of the new table in turn, all
 * constructed by then, so a table with several backup targets hands over
 * each job to its own target whatever their order: a job of the replaced
 * table ends here only if no target of the new table holds it.  An
 * increment fails here, changing nothing, if its tracking job's commit
 * hangs (backup_retire_tracker()).
 */
int backup_take_over(struct backup_c *bc)
{
	struct backup_c *old;
	int r;

	/* Only this instance's resume sets its @live. */
	if (!READ_ONCE(bc->live)) {
		r = backup_retire_tracker(bc);
		if (r)
			return r;
	}
	mutex_lock(&backup_jobs_lock);
	if (!bc->live) {
		old = backup_live_job(bc);
		if (old && old->job == bc->job) {
			WRITE_ONCE(old->live, false);
			old->handed_over = true;
			DMINFO("%s: reloaded table took over the running job",
			       dm_device_name(bc->md));
		}
		list_for_each_entry(old, &backup_jobs, jobs_entry) {
			if (old->md != bc->md || old->ti->table == bc->ti->table ||
			    backup_table_takes(bc->ti->table, old))
				continue;
			WRITE_ONCE(old->live, false);
		}
		WRITE_ONCE(bc->live, true);
		/* Views pause while the job changes hands, then follow. */
		backup_job_set_live(bc->job, bc);
	}
	mutex_unlock(&backup_jobs_lock);
	return 0;
}

void backup_jobs_lock_acquire(void)
{
	mutex_lock(&backup_jobs_lock);
}

void backup_jobs_lock_release(void)
{
	mutex_unlock(&backup_jobs_lock);
}

/*
 * The live job that copies @origin to @backup; caller holds
 * backup_jobs_lock.
 */
struct backup_c *backup_find_live_job_by_devices(struct block_device *origin,
						 struct block_device *backup)
{
	struct backup_c *bc;

	lockdep_assert_held(&backup_jobs_lock);
	list_for_each_entry(bc, &backup_jobs, jobs_entry)
		if (bc->live && bc->origin->bdev == origin &&
		    bc->backup->bdev == backup)
			return bc;
	return NULL;
}

/*
 * The live job of dm device @dev, the one at its sector 0 if the table
 * has several; caller holds backup_jobs_lock.
 */
struct backup_c *backup_find_live_job(dev_t dev)
{
	struct backup_c *bc, *found = NULL;

	lockdep_assert_held(&backup_jobs_lock);
	list_for_each_entry(bc, &backup_jobs, jobs_entry)
		if (bc->live && bc->dev == dev && (!found || !bc->ti->begin))
			found = bc;
	return found;
}
