// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup-view: the point-in-time image of a running backup job as a
 * read-only device, for backup programs that pull data at their own pace
 * (QEMU's fleecing).
 *
 *   <start> <len> backup-view <origin_dev> <backup_dev>
 *   <start> <len> backup-view <backup_dm_device>
 *
 * The first form finds the job by the devices it copies from and to,
 * which device-mapper shares between tables: it works while a file system
 * is mounted on the backed-up volume (which holds that dm device open
 * exclusively).  The second names the dm device of the job, whose backup
 * target must start at its sector 0.
 *
 * A read of a chunk already on the backup device is served from there.  A
 * read of a chunk not copied yet is served from the origin under a "hold":
 * an entry in the job's tree of copies in flight, so a write to that chunk
 * waits (as it would for a copy) until the read is done, and the read can
 * never see data written after the job started.  A read of a chunk whose
 * copy is in flight waits for the copy.  dm splits view reads at chunk
 * boundaries, so each read concerns one chunk.  Once the job has
 * completed, a chunk it left uncopied (on_*_error ignore) reads as an I/O
 * error: writes no longer wait for views, so the origin no longer holds
 * its point-in-time data.
 *
 * A view holds a reference to its job and reaches the instance acting on
 * it through the job (backup_job_live_lock()), so it follows the job
 * across table reloads (handover) and never sees a freed job.  When the
 * job goes away (its table is replaced by one without that job), the view
 * fails reads with -EIO; while the view is open, the backup device cannot
 * be removed (it is busy).
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/module.h>

#include "dm-backup.h"

struct backup_view {
	struct dm_target *ti;
	/* The dm-backup device, or the origin in the two-device form. */
	struct dm_dev *src;
	struct dm_dev *backup;		/* the backup device, two-device form */
	struct backup_job *job;		/* a reference, from ctr to dtr */
	/*
	 * Protects @retry.  Process context only (map, copy_wq, the retry
	 * work): a plain spin_lock.
	 */
	spinlock_t lock;
	/*
	 * Reads that copy_wq could not route without sleeping (for a hold,
	 * or for a handover to end; copy_wq must not sleep on copies: their
	 * ends run there); routed again by @retry_work, which may sleep.
	 */
	struct bio_list retry;
	struct work_struct retry_work;
};

/* Per-bio data of the view target. */
struct backup_view_io {
	struct backup_view *view;
	struct backup_hold *hold;	/* released at end_io */
	struct backup_waiter waiter;	/* waiting for a copy or a hold */
};

/* Runs the views' @retry_work; may sleep for a copy or a handover. */
static struct workqueue_struct *backup_view_wq;

/*
 * No sleeping in copy_wq: @bio waits for @retry_work instead.  Queued
 * under the lock: once it is dropped the read may be done and the view
 * gone.
 */
static int backup_view_retry_later(struct backup_view *v, struct bio *bio)
{
	spin_lock(&v->lock);
	bio_list_add(&v->retry, bio);
	queue_work(backup_view_wq, &v->retry_work);
	spin_unlock(&v->lock);
	return DM_MAPIO_SUBMITTED;
}

/*
 * Route a read of @chunk of @bc, the instance acting on the view's job;
 * caller holds backup_job_live_lock().  Only with @may_sleep may it sleep
 * for a hold.
 */
static int backup_view_route_chunk(struct backup_view *v, struct backup_c *bc,
				   struct bio *bio, bool may_sleep)
{
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));
	sector_t offset = dm_target_offset(v->ti, bio->bi_iter.bi_sector);
	unsigned long chunk = offset >> bc->chunk_shift, next;
	struct backup_hold *hold = NULL;
	struct backup_cell *cell;
	int r;

	for (;;) {
		spin_lock(&bc->job->lock);
		cell = backup_inflight_find(bc, chunk, &next);
		if (!backup_job_active(bc->job->state) &&
		    bc->job->state != BACKUP_COMPLETED) {
			/* The point-in-time image is gone. */
			r = DM_MAPIO_KILL;
		} else if (backup_chunk_copied(bc, chunk)) {
			bio_set_dev(bio, bc->backup_bdev);
			bio->bi_iter.bi_sector = offset;
			r = DM_MAPIO_REMAPPED;
		} else if (cell) {
			list_add_tail(&io->waiter.list, &cell->view_waiters);
			r = DM_MAPIO_SUBMITTED;
		} else if (bc->job->state == BACKUP_COMPLETED) {
			/* Skipped: writes no longer keep it at the point in time. */
			r = DM_MAPIO_KILL;
		} else if (hold) {
			backup_hold_init_locked(hold, chunk);
			io->hold = hold;
			hold = NULL;
			bio_set_dev(bio, bc->origin_bdev);
			bio->bi_iter.bi_sector = offset;
			r = DM_MAPIO_REMAPPED;
		} else {
			spin_unlock(&bc->job->lock);
			hold = backup_hold_alloc(bc, may_sleep ? GFP_NOIO :
						 GFP_NOWAIT | __GFP_NOWARN);
			if (hold)
				continue;
			/* The job ended while we slept, or no sleeping here. */
			return may_sleep ? DM_MAPIO_KILL :
					   backup_view_retry_later(v, bio);
		}
		spin_unlock(&bc->job->lock);
		break;
	}
	if (hold)
		backup_hold_free(hold);
	return r;
}

/*
 * Route a view read.  With @may_sleep (map, the retry work) a read waits
 * out a handover; without (copy_wq), the retry work routes it.
 */
static int backup_view_route(struct backup_view *v, struct bio *bio,
			     bool may_sleep)
{
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));
	struct backup_c *bc;
	int idx, r;

	io->hold = NULL;
	for (;;) {
		bc = backup_job_live_lock(v->job, &idx);
		if (bc)
			break;
		backup_job_live_unlock(idx);
		if (backup_job_gone(v->job))
			return DM_MAPIO_KILL;
		if (!may_sleep)
			return backup_view_retry_later(v, bio);
		if (!backup_job_wait_live(v->job))
			return DM_MAPIO_KILL;
	}
	r = backup_view_route_chunk(v, bc, bio, may_sleep);
	backup_job_live_unlock(idx);
	return r;
}

static void backup_view_dispatch(struct backup_view *v, struct bio *bio,
				 bool may_sleep)
{
	switch (backup_view_route(v, bio, may_sleep)) {
	case DM_MAPIO_REMAPPED:
		submit_bio_noacct(bio);
		break;
	case DM_MAPIO_KILL:
		bio_io_error(bio);
		break;
	}
}

static void backup_view_retry_work(struct work_struct *ws)
{
	struct backup_view *v = container_of(ws, struct backup_view, retry_work);
	struct bio_list bios;
	struct bio *bio;

	spin_lock(&v->lock);
	bios = v->retry;
	bio_list_init(&v->retry);
	spin_unlock(&v->lock);
	while ((bio = bio_list_pop(&bios)))
		backup_view_dispatch(v, bio, true);
}

/* copy_wq: a view read released by a copy or hold looks again. */
static void backup_view_wake_work(struct work_struct *ws)
{
	struct backup_view_io *io = container_of(ws, struct backup_view_io,
						  waiter.work);
	struct bio *bio = dm_bio_from_per_bio_data(io, sizeof(*io));

	backup_view_dispatch(io->view, bio, false);
}

/* The two-device form: the live job copying from @origin to @backup. */
static struct backup_c *backup_view_find_job(struct backup_view *v,
					     char **error)
{
	struct backup_c *bc;

	if (v->backup) {
		bc = backup_find_live_job_by_devices(v->src->bdev,
						     v->backup->bdev);
		if (!bc)
			*error = "No running backup job copies this origin to this backup device";
		return bc;
	}
	bc = backup_find_live_job(v->src->bdev->bd_dev);
	if (!bc) {
		*error = "Not a dm device with a running backup job";
	} else if (bc->ti->begin) {
		*error = "The backup target must start at sector 0 of its device";
		bc = NULL;
	}
	return bc;
}

static int backup_view_get_devices(struct backup_view *v, unsigned int argc,
				   char **argv)
{
	struct dm_target *ti = v->ti;
	int r;

	r = dm_get_device(ti, argv[0], BACKUP_OPEN_READ, &v->src);
	if (r) {
		ti->error = argc == 2 ? "Error opening origin device" :
			    "Error opening the dm device of the backup job";
		return r;
	}
	if (argc == 1)
		return 0;
	r = dm_get_device(ti, argv[1], BACKUP_OPEN_READ, &v->backup);
	if (r)
		ti->error = "Error opening backup device";
	return r;
}

/*
 * Construct a view:
 *
 *   <origin_dev> <backup_dev>
 *   <backup_dm_device>
 *
 * the devices a running backup job copies from and to (usable while the
 * backed-up volume is mounted), or the dm device whose live table is a
 * backup target at sector 0.
 */
static int backup_view_ctr(struct dm_target *ti, unsigned int argc,
			   char **argv)
{
	struct backup_view *v;
	struct backup_c *bc;
	int r;

	if (argc != 1 && argc != 2) {
		ti->error = "Invalid argument count (<origin> <backup> or <backup_dm_device>)";
		return -EINVAL;
	}
	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v) {
		ti->error = "Cannot allocate view context";
		return -ENOMEM;
	}
	v->ti = ti;
	spin_lock_init(&v->lock);
	bio_list_init(&v->retry);
	INIT_WORK(&v->retry_work, backup_view_retry_work);
	r = backup_view_get_devices(v, argc, argv);
	if (r)
		goto bad;

	backup_jobs_lock_acquire();
	bc = backup_view_find_job(v, &ti->error);
	r = -EINVAL;
	if (bc && ti->len > bc->ti->len)
		ti->error = "The view is longer than the backup target";
	else if (bc)
		r = dm_set_target_max_io_len(ti, bc->chunk_sectors);
	if (!r)
		v->job = backup_job_get(bc->job);
	backup_jobs_lock_release();
	if (r)
		goto bad;

	ti->private = v;
	ti->per_io_data_size = sizeof(struct backup_view_io);
	ti->num_flush_bios = 1;
	return 0;
bad:
	if (v->backup)
		dm_put_device(ti, v->backup);
	if (v->src)
		dm_put_device(ti, v->src);
	kfree(v);
	return r;
}

static void backup_view_dtr(struct dm_target *ti)
{
	struct backup_view *v = ti->private;

	/* dm has no I/O of this view in flight any more. */
	cancel_work_sync(&v->retry_work);
	backup_job_put(v->job);
	if (v->backup)
		dm_put_device(ti, v->backup);
	dm_put_device(ti, v->src);
	kfree(v);
}

static int backup_view_map(struct dm_target *ti, struct bio *bio)
{
	struct backup_view *v = ti->private;
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));

	io->view = v;
	io->hold = NULL;
	INIT_LIST_HEAD(&io->waiter.list);
	INIT_WORK(&io->waiter.work, backup_view_wake_work);
	if (op_is_write(bio_op(bio))) {
		if (bio_sectors(bio))
			return DM_MAPIO_KILL;	/* read-only */
		bio_endio(bio);			/* a flush: nothing to do */
		return DM_MAPIO_SUBMITTED;
	}
	return backup_view_route(v, bio, true);
}

static int backup_view_end_io(struct dm_target *ti, struct bio *bio,
			      blk_status_t *error)
{
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));

	if (io->hold) {
		backup_hold_release(io->hold);
		io->hold = NULL;
	}
	return DM_ENDIO_DONE;
}

static void backup_view_status(struct dm_target *ti, status_type_t type,
			       unsigned int status_flags, char *result,
			       unsigned int maxlen)
{
	struct backup_view *v = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%s", backup_job_gone(v->job) ? "detached" : "attached");
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", v->src->name);
		if (v->backup)
			DMEMIT(" %s", v->backup->name);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",source=%s", v->src->name);
		if (v->backup)
			DMEMIT(",backup=%s", v->backup->name);
		DMEMIT(";");
		break;
	}
}

static int backup_view_iterate_devices(struct dm_target *ti,
				       iterate_devices_callout_fn fn,
				       void *data)
{
	struct backup_view *v = ti->private;
	int r = fn(ti, v->src, 0, ti->len, data);

	if (!r && v->backup)
		r = fn(ti, v->backup, 0, ti->len, data);
	return r;
}

static struct target_type backup_view_target = {
	.name = "backup-view",
	.version = {1, 1, 0},
	.module = THIS_MODULE,
	.ctr = backup_view_ctr,
	.dtr = backup_view_dtr,
	.map = backup_view_map,
	.end_io = backup_view_end_io,
	.status = backup_view_status,
	.iterate_devices = backup_view_iterate_devices,
};

int backup_view_register(void)
{
	int r;

	backup_view_wq = alloc_workqueue("dm-" DM_MSG_PREFIX "-view",
					 WQ_MEM_RECLAIM, 0);
	if (!backup_view_wq)
		return -ENOMEM;
	r = dm_register_target(&backup_view_target);
	if (r)
		destroy_workqueue(backup_view_wq);
	return r;
}

void backup_view_unregister(void)
{
	dm_unregister_target(&backup_view_target);
	destroy_workqueue(backup_view_wq);
}
