// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup-view: the point-in-time image of a running backup job as a
 * read-only device, for backup programs that pull data at their own pace
 * (QEMU's fleecing).
 *
 *   <start> <len> backup-view <backup_dm_device>
 *
 * A read of a chunk already on the backup device is served from there.  A
 * read of a chunk not copied yet is served from the origin under a "hold":
 * an entry in the job's tree of copies in flight, so a write to that chunk
 * waits (as it would for a copy) until the read is done, and the read can
 * never see data written after the job started.  A read of a chunk whose
 * copy is in flight waits for the copy.  dm splits view reads at chunk
 * boundaries, so each read concerns one chunk.
 *
 * A view follows its job across table reloads (handover).  When the job
 * goes away (its table is replaced by one without that job), the view
 * fails reads with -EIO; while the view is open, the backup device cannot
 * be removed (it is busy).
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/srcu.h>

#include "dm-backup.h"

struct backup_view {
	struct dm_target *ti;
	struct dm_dev *src;		/* the dm-backup device */
	/*
	 * The job, read under backup_view_srcu.  NULL while a reload moves
	 * the job to a new table (@prev says from where) and once the job is
	 * gone (@detached).
	 */
	struct backup_c __rcu *bc;
	struct backup_c *prev;
	bool detached;
	struct list_head list;		/* on backup_views */
	wait_queue_head_t wait;		/* map() waits for @bc here */
	spinlock_t lock;		/* protects @parked against @bc changes */
	struct bio_list parked;		/* reads met @bc == NULL in copy_wq */
};

/* Per-bio data of the view target. */
struct backup_view_io {
	struct backup_view *view;
	struct backup_copy *hold;	/* released at end_io */
};

DEFINE_STATIC_SRCU(backup_view_srcu);
/* Protects backup_views and every view's @prev; nests in backup_jobs_lock. */
static DEFINE_MUTEX(backup_views_lock);
static LIST_HEAD(backup_views);

/* Route a read of @chunk of @bc; caller holds the srcu read lock. */
static int backup_view_route_chunk(struct backup_view *v, struct backup_c *bc,
				   struct bio *bio)
{
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));
	sector_t offset = dm_target_offset(v->ti, bio->bi_iter.bi_sector);
	unsigned long chunk = offset >> bc->chunk_shift, next, flags;
	struct backup_copy *copy, *hold = NULL;
	int r;

	for (;;) {
		spin_lock_irqsave(&bc->lock, flags);
		if (!backup_job_active(bc->state) &&
		    bc->state != BACKUP_COMPLETED) {
			/* The point-in-time image is gone. */
			r = DM_MAPIO_KILL;
		} else if (test_bit(chunk, bc->copied)) {
			bio_set_dev(bio, bc->backup->bdev);
			bio->bi_iter.bi_sector = offset;
			r = DM_MAPIO_REMAPPED;
		} else if (backup_inflight_find(bc, chunk, &next)) {
			copy = backup_inflight_find(bc, chunk, &next);
			bio_list_add(&copy->view_waiters, bio);
			r = DM_MAPIO_SUBMITTED;
		} else if (hold) {
			backup_copy_init_locked(hold, chunk, chunk + 1, false);
			hold->hold = true;
			io->hold = hold;
			hold = NULL;
			bio_set_dev(bio, bc->origin->bdev);
			bio->bi_iter.bi_sector = offset;
			r = DM_MAPIO_REMAPPED;
		} else {
			spin_unlock_irqrestore(&bc->lock, flags);
			hold = backup_copy_alloc(bc, GFP_NOIO);
			continue;
		}
		spin_unlock_irqrestore(&bc->lock, flags);
		break;
	}
	if (hold)
		backup_copy_free(hold);
	return r;
}

/*
 * Route a view read.  With @may_sleep (map) a read waits out a reload;
 * without (copy_wq), it is parked and routed again when the reload ends.
 */
static int backup_view_route(struct backup_view *v, struct bio *bio,
			     bool may_sleep)
{
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));
	struct backup_c *bc;
	unsigned long flags;
	int idx, r;

	io->hold = NULL;
	for (;;) {
		idx = srcu_read_lock(&backup_view_srcu);
		bc = srcu_dereference(v->bc, &backup_view_srcu);
		if (bc)
			break;
		srcu_read_unlock(&backup_view_srcu, idx);
		if (READ_ONCE(v->detached))
			return DM_MAPIO_KILL;
		if (may_sleep) {
			wait_event(v->wait, rcu_access_pointer(v->bc) ||
				   READ_ONCE(v->detached));
			continue;
		}
		spin_lock_irqsave(&v->lock, flags);
		if (!rcu_access_pointer(v->bc) && !v->detached) {
			bio_list_add(&v->parked, bio);
			spin_unlock_irqrestore(&v->lock, flags);
			return DM_MAPIO_SUBMITTED;
		}
		spin_unlock_irqrestore(&v->lock, flags);
	}
	r = backup_view_route_chunk(v, bc, bio);
	srcu_read_unlock(&backup_view_srcu, idx);
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

/* copy_wq: view reads released by a copy or hold look again. */
void backup_view_resubmit(struct bio_list *bios)
{
	struct backup_view_io *io;
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		io = dm_per_bio_data(bio, sizeof(*io));
		backup_view_dispatch(io->view, bio, false);
	}
}

/*
 * Unhook the views of @from, wait until no view read routes through it,
 * and let its holds drain.
 */
static bool backup_views_unhook(struct backup_c *from)
{
	struct backup_view *v;
	bool found = false;

	mutex_lock(&backup_views_lock);
	list_for_each_entry(v, &backup_views, list) {
		if (rcu_access_pointer(v->bc) == from) {
			v->prev = from;
			RCU_INIT_POINTER(v->bc, NULL);
			found = true;
		}
	}
	mutex_unlock(&backup_views_lock);
	if (found) {
		synchronize_srcu(&backup_view_srcu);
		wait_event(from->copy_done_wait,
			   !atomic_read(&from->nr_copies));
	}
	return found;
}

/* Hook the views unhooked from @from to @to, or detach them (@to NULL). */
static void backup_views_hook(struct backup_c *from, struct backup_c *to)
{
	struct bio_list parked;
	struct backup_view *v;
	unsigned long flags;
	struct bio *bio;

	mutex_lock(&backup_views_lock);
	list_for_each_entry(v, &backup_views, list) {
		if (v->prev != from || rcu_access_pointer(v->bc))
			continue;
		v->prev = NULL;
		bio_list_init(&parked);
		spin_lock_irqsave(&v->lock, flags);
		if (to)
			rcu_assign_pointer(v->bc, to);
		else
			WRITE_ONCE(v->detached, true);
		bio_list_merge(&parked, &v->parked);
		bio_list_init(&v->parked);
		spin_unlock_irqrestore(&v->lock, flags);
		wake_up_all(&v->wait);
		while ((bio = bio_list_pop(&parked)))
			backup_view_dispatch(v, bio, true);
	}
	mutex_unlock(&backup_views_lock);
}

/*
 * Move the views of job @from to @to (handover, with the job moved in
 * @move between the two steps), or detach them when @to is NULL.
 */
void backup_views_switch(struct backup_c *from, struct backup_c *to,
			 void (*move)(struct backup_c *to, struct backup_c *from))
{
	bool found = backup_views_unhook(from);

	if (move)
		move(to, from);
	if (found)
		backup_views_hook(from, to);
}

/*
 * Construct a view:
 *
 *   <backup_dm_device>
 *
 * the dm device whose live table is a backup target at sector 0.
 */
static int backup_view_ctr(struct dm_target *ti, unsigned int argc,
			   char **argv)
{
	struct backup_view *v;
	struct backup_c *bc;
	int r;

	if (argc != 1) {
		ti->error = "Invalid argument count (<backup_dm_device>)";
		return -EINVAL;
	}
	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v) {
		ti->error = "Cannot allocate view context";
		return -ENOMEM;
	}
	v->ti = ti;
	init_waitqueue_head(&v->wait);
	spin_lock_init(&v->lock);
	bio_list_init(&v->parked);
	r = dm_get_device(ti, argv[0], BACKUP_OPEN_READ, &v->src);
	if (r) {
		ti->error = "Error opening the backup device";
		goto bad;
	}

	backup_jobs_lock_acquire();
	bc = backup_find_live_job(v->src->bdev->bd_dev);
	r = -EINVAL;
	if (!bc)
		ti->error = "Not a dm device with a running backup job";
	else if (bc->ti->begin)
		ti->error = "The backup target must start at sector 0 of its device";
	else if (ti->len > bc->ti->len)
		ti->error = "The view is longer than the backup target";
	else
		r = dm_set_target_max_io_len(ti, bc->chunk_sectors);
	if (!r) {
		rcu_assign_pointer(v->bc, bc);
		mutex_lock(&backup_views_lock);
		list_add(&v->list, &backup_views);
		mutex_unlock(&backup_views_lock);
	}
	backup_jobs_lock_release();
	if (r)
		goto bad;

	ti->private = v;
	ti->per_io_data_size = sizeof(struct backup_view_io);
	ti->num_flush_bios = 1;
	return 0;
bad:
	if (v->src)
		dm_put_device(ti, v->src);
	kfree(v);
	return r;
}

static void backup_view_dtr(struct dm_target *ti)
{
	struct backup_view *v = ti->private;

	mutex_lock(&backup_views_lock);
	list_del(&v->list);
	mutex_unlock(&backup_views_lock);
	/* dm has no I/O of this view in flight any more. */
	synchronize_srcu(&backup_view_srcu);
	dm_put_device(ti, v->src);
	kfree(v);
}

static int backup_view_map(struct dm_target *ti, struct bio *bio)
{
	struct backup_view *v = ti->private;
	struct backup_view_io *io = dm_per_bio_data(bio, sizeof(*io));

	io->view = v;
	io->hold = NULL;
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
		DMEMIT("%s", READ_ONCE(v->detached) ? "detached" : "attached");
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", v->src->name);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",source=%s;", v->src->name);
		break;
	}
}

static int backup_view_iterate_devices(struct dm_target *ti,
				       iterate_devices_callout_fn fn,
				       void *data)
{
	struct backup_view *v = ti->private;

	return fn(ti, v->src, 0, ti->len, data);
}

static struct target_type backup_view_target = {
	.name = "backup-view",
	.version = {1, 0, 0},
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
	return dm_register_target(&backup_view_target);
}

void backup_view_unregister(void)
{
	dm_unregister_target(&backup_view_target);
}
