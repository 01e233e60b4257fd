// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup worker: the background walk over the device, its throttle,
 * the job's completion and its dm events (the states themselves:
 * dm-backup-job.c).
 *
 * The worker is one delayed work item, so it never runs twice at once.
 * Each run retries writes that could not get a copy in map(), starts
 * copies that wait for memory, lets the walk issue copies up to its
 * budget, completes the job when every chunk is copied, and raises the
 * dm event of any state change.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/ktime.h>
#include <linux/math64.h>

#include "dm-backup.h"
#include "dm_backup_trace.h"

/*-------------------------------------------------------------------------*/
/* Throttle */

void backup_set_speed(struct backup_c *bc, u64 speed)
{
	WRITE_ONCE(bc->speed, speed);
	/* Wake a walk that sleeps out a slice, so the change applies now. */
	backup_kick(bc);
}

/*
 * Bytes the walk may copy per slice at @speed bytes/s.  speed * slice
 * would overflow 64 bits above 184467440737 bytes/s: the quota is
 * computed at full width, so huge speeds act as unlimited.
 */
static u64 backup_slice_quota(u64 speed)
{
	return max_t(u64, mul_u64_u64_div_u64(speed, BACKUP_SLICE_NS,
					      NSEC_PER_SEC), 1);
}

/*
 * The walk may copy while the bytes counted in this slice are below the
 * slice's quota.  What a copy overshoots is carried into the next slices
 * as debt, so the long-run rate is the speed even when one copy is
 * larger than a slice's quota.  Returns 0 or the jiffies to wait.
 */
static unsigned long backup_throttle_delay(struct backup_c *bc)
{
	u64 speed = READ_ONCE(bc->speed);
	u64 quota, now, used, elapsed, paid;

	if (!speed)
		return 0;
	quota = backup_slice_quota(speed);
	now = ktime_get_ns();
	if (now >= bc->slice_end_ns) {
		elapsed = div64_u64(now - bc->slice_end_ns, BACKUP_SLICE_NS) + 1;
		used = atomic64_read(&bc->slice_bytes);
		paid = elapsed > div64_u64(used, quota) ? used : elapsed * quota;
		atomic64_sub(paid, &bc->slice_bytes);
		/*
		 * Keep the slices on their schedule: the worker wakes a little
		 * late (timer granularity), and starting the next slice from
		 * "now" would lose that much budget every slice.
		 */
		if (bc->slice_end_ns)
			bc->slice_end_ns += elapsed * BACKUP_SLICE_NS;
		else
			bc->slice_end_ns = now + BACKUP_SLICE_NS;
	}
	if (atomic64_read(&bc->slice_bytes) < quota)
		return 0;
	return max_t(unsigned long, nsecs_to_jiffies(bc->slice_end_ns - now), 1);
}

/*
 * At low speeds a walk copy is no larger than a slice's quota.  Caller
 * holds bc->job->lock.
 */
static unsigned long backup_walk_limit(struct backup_c *bc, unsigned long chunk)
{
	u64 speed = READ_ONCE(bc->speed);
	u64 chunks;

	if (!speed)
		return bc->nr_chunks;
	chunks = backup_slice_quota(speed) >> (bc->chunk_shift + SECTOR_SHIFT);
	chunks = clamp_t(u64, chunks, 1, bc->nr_chunks - chunk);
	return chunk + chunks;
}

/*-------------------------------------------------------------------------*/
/* The walk */

static bool backup_walk_may_copy(struct backup_c *bc)
{
	return bc->sync_mode != BACKUP_SYNC_NONE &&
	       READ_ONCE(bc->job->state) == BACKUP_RUNNING &&
	       !test_bit(BACKUP_SUSPENDED, &bc->flags) &&
	       !test_bit(BACKUP_DYING, &bc->flags);
}

/*
 * The next chunk to look at again that is neither copied nor in flight
 * (a copy in flight covers its chunks: if it fails, it sends the walk
 * back to them), or bc->nr_chunks.  Caller holds bc->job->lock.
 */
static unsigned long backup_walk_next_revisit_locked(struct backup_c *bc)
{
	unsigned long chunk, next;

	while ((chunk = backup_revisit_next_locked(bc)) < bc->nr_chunks)
		if (!backup_chunk_copied(bc, chunk) &&
		    !backup_inflight_find(bc, chunk, &next))
			break;
	return chunk;
}

/*
 * Issue one walk copy: one chunk to look at again if there is one (after a
 * failed copy, so that the error policy judges single chunks), else the
 * next run of chunks at the cursor that are neither copied nor in flight.
 * Chunks a write is copying are skipped; that copy covers them.  Returns
 * false when the walk has nothing left.
 */
static bool backup_walk_issue_copy(struct backup_c *bc)
{
	struct backup_copy *copy = backup_worker_copy_alloc(bc);
	struct backup_cell *other;
	unsigned long chunk, next = ULONG_MAX;

	if (!copy)
		return false;	/* a copy that ends kicks the worker */
	spin_lock(&bc->job->lock);
	if (bc->job->state != BACKUP_RUNNING)
		goto none;
	chunk = backup_walk_next_revisit_locked(bc);
	if (chunk < bc->nr_chunks) {
		backup_copy_init_locked(copy, chunk, chunk + 1, true);
		goto issue;
	}
	chunk = bc->job->walk_cursor;
	while ((chunk = backup_next_uncopied(bc, chunk, bc->nr_chunks)) <
	       bc->nr_chunks) {
		other = backup_inflight_find(bc, chunk, &next);
		if (!other)
			break;
		chunk = other->chunk + other->nr_chunks;
	}
	bc->job->walk_cursor = chunk;
	if (chunk >= bc->nr_chunks)
		goto none;
	backup_copy_init_locked(copy, chunk,
				backup_run_end(bc, chunk,
					       backup_walk_limit(bc, chunk), next),
				true);
	bc->job->walk_cursor = chunk + copy->cell.nr_chunks;
issue:
	spin_unlock(&bc->job->lock);
	trace_dm_backup_walk_copy(bc->dev, copy->cell.chunk, copy->cell.nr_chunks);
	backup_copy_start_wait(copy);
	return true;

none:
	spin_unlock(&bc->job->lock);
	backup_copy_free(copy);
	return false;
}

static void backup_walk(struct backup_c *bc)
{
	unsigned long delay;

	while (backup_walk_may_copy(bc)) {
		/* A walk copy that ends kicks the worker again. */
		if (atomic_read(&bc->walk_pages) >= BACKUP_WALK_MAX_PAGES)
			return;
		delay = backup_throttle_delay(bc);
		if (delay) {
			queue_delayed_work(bc->wq, &bc->worker, delay);
			return;
		}
		if (!backup_walk_issue_copy(bc))
			return;
	}
}

/*-------------------------------------------------------------------------*/
/* The worker */

/*
 * Put @bios back in front of the deferred writes, or let them go if the
 * job ended meanwhile (its end already looked at the deferred writes).
 */
static void backup_requeue_deferred(struct backup_c *bc, struct bio_list *bios)
{
	struct bio_list newer;
	struct bio *bio;

	spin_lock(&bc->job->lock);
	if (!backup_job_guards_writes(bc->job)) {
		spin_unlock(&bc->job->lock);
		backup_resubmit(bc, bios);
		return;
	}
	newer = bc->deferred_bios;
	bio_list_init(&bc->deferred_bios);
	bio_list_merge(bios, &newer);
	while ((bio = bio_list_pop(bios)))
		backup_park_write_locked(bc, &bc->deferred_bios,
					 &bc->deferred_since, bio);
	spin_unlock(&bc->job->lock);
}

static void backup_process_deferred_bios(struct backup_c *bc)
{
	struct bio_list bios = BIO_EMPTY_LIST;
	struct backup_copy *spare = NULL;
	struct bio *bio;

	spin_lock(&bc->job->lock);
	bio_list_merge(&bios, &bc->deferred_bios);
	bio_list_init(&bc->deferred_bios);
	spin_unlock(&bc->job->lock);

	while ((bio = bio_list_pop(&bios))) {
		if (!spare)
			spare = backup_worker_copy_alloc(bc);
		if (!spare) {
			/* Back in front; a copy that ends kicks the worker. */
			bio_list_add_head(&bios, bio);
			backup_requeue_deferred(bc, &bios);
			return;
		}
		if (backup_cow_bio(bc, bio, &spare)) {
			trace_dm_backup_cow_return(bc->dev, bio->bi_iter.bi_sector,
						   bio_sectors(bio), 0);
			backup_remap_to_origin(bc, bio);
			submit_bio_noacct(bio);
		}
	}
	if (spare)
		backup_copy_free(spare);
}

static void backup_start_pending_copies(struct backup_c *bc)
{
	struct backup_copy *copy;

	for (;;) {
		spin_lock(&bc->job->lock);
		copy = list_first_entry_or_null(&bc->pending_copies,
						struct backup_copy, list);
		if (copy)
			list_del_init(&copy->list);
		spin_unlock(&bc->job->lock);
		if (!copy)
			return;
		backup_copy_start_wait(copy);
	}
}

/*
 * The completion flush: the backup device's cache is flushed so that
 * "completed" means the image is durable.  It runs apart from the worker,
 * from copy_wq, because a backup device that never answers it must not
 * hold the worker (a suspend flushes the worker); the flush holds a
 * reference to bc, as a copy does.
 */
static void backup_flush_endio(struct bio *bio)
{
	struct backup_c *bc = bio->bi_private;

	bc->flush_status = bio->bi_status;
	bio_put(bio);
	queue_work(bc->copy_wq, &bc->flush_done_work);
}

static void backup_flush_submit_work(struct work_struct *ws)
{
	struct backup_c *bc = container_of(ws, struct backup_c,
					   flush_submit_work);
	struct bio *bio;

	bio = bio_alloc_bioset(bc->backup_bdev, 0, REQ_OP_WRITE | REQ_PREFLUSH,
			       GFP_NOIO, &bc->bs);
	bio->bi_end_io = backup_flush_endio;
	bio->bi_private = bc;
	submit_bio_noacct(bio);
}

/*
 * The flush is back: say "completed" (or "failed").  A copy that started
 * during the flush (a write to a chunk the walk skipped under the ignore
 * policy, copied before it goes on) may have written after it: then the
 * job is not done yet, or needs one more flush, and the worker comes back.
 */
static void backup_flush_done_work(struct work_struct *ws)
{
	struct backup_c *bc = container_of(ws, struct backup_c,
					   flush_done_work);
	int r = blk_status_to_errno(bc->flush_status);
	bool report = false;

	spin_lock(&bc->job->lock);
	clear_bit(BACKUP_FLUSHING, &bc->flags);
	if (test_bit(BACKUP_DYING, &bc->flags) ||
	    !backup_job_done_locked(bc)) {
		/* A copy in flight or a write deferred: they kick the worker. */
	} else if (!r && bc->copies_started != bc->flush_copies_started) {
		backup_kick(bc);
	} else {
		if (r) {
			bc->job->last_error = r;
			bc->job->last_error_chunk = bc->nr_chunks;
			report = true;
		}
		/*
		 * Every chunk the walk could not copy was skipped under the
		 * ignore policy: count them exactly, once each.
		 */
		if (!r)
			bc->job->skipped_chunks = bc->nr_chunks - bc->job->nr_copied;
		backup_set_state_locked(bc, r ? BACKUP_FAILED : BACKUP_COMPLETED);
	}
	spin_unlock(&bc->job->lock);
	if (report)
		DMERR("%s: flushing the backup device failed: error %d",
		      bc->name, r);
	backup_put(bc);
}

/* Worker: every chunk is on the backup device; flush it, once at a time. */
static void backup_complete_job(struct backup_c *bc)
{
	bool start = false;

	spin_lock(&bc->job->lock);
	if (backup_job_done_locked(bc) &&
	    !test_and_set_bit(BACKUP_FLUSHING, &bc->flags)) {
		bc->flush_copies_started = bc->copies_started;
		start = true;
	}
	spin_unlock(&bc->job->lock);
	if (!start)
		return;
	kref_get(&bc->ref);	/* put by backup_flush_done_work() */
	queue_work(bc->copy_wq, &bc->flush_submit_work);
}

static void backup_do_worker(struct work_struct *ws);

void backup_walk_init(struct backup_c *bc)
{
	INIT_DELAYED_WORK(&bc->worker, backup_do_worker);
	INIT_WORK(&bc->flush_submit_work, backup_flush_submit_work);
	INIT_WORK(&bc->flush_done_work, backup_flush_done_work);
}

static void backup_do_worker(struct work_struct *ws)
{
	struct backup_c *bc = container_of(to_delayed_work(ws),
					   struct backup_c, worker);

	backup_process_deferred_bios(bc);
	backup_start_pending_copies(bc);
	backup_walk(bc);
	backup_complete_job(bc);
	if (!backup_job_active(READ_ONCE(bc->job->state)))
		backup_drain_page_cache(bc);
	if (test_and_clear_bit(BACKUP_EVENT_PENDING, &bc->job->flags))
		dm_table_event(bc->ti->table);
}
