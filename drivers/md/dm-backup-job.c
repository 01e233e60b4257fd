// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup job: the job object, shared by the table instances and the
 * views that hold it, which instance acts on it, its state machine
 * (running, paused, completed, failed, cancelled), when a job is done,
 * the messages that move it (pause, resume, cancel), and its error
 * policies: what a failed copy or a stalled write does to it, as the copy
 * engine reports them (struct backup_engine_ops).
 *
 * Every state change goes through backup_set_state_locked(), under
 * job->lock: it traces the change, marks the dm event the worker raises,
 * and when the job ends lets every write that waits for a copy go.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/timekeeping.h>
#include <linux/uuid.h>

#include "dm-backup.h"
#include "dm-backup-metadata.h"
#include "dm_backup_trace.h"

static void backup_job_commit_work(struct work_struct *ws);
static void backup_job_commit_timer(struct work_struct *ws);
static void backup_job_retired_work(struct work_struct *ws);
static void backup_job_end_work(struct work_struct *ws);
static void backup_job_mark_stall_work(struct work_struct *ws);
static void backup_job_marks_committed(struct backup_job *job, u64 upto,
				       int err);

/* A new job over @nr_chunks chunks, none copied, running; NULL on ENOMEM. */
struct backup_job *backup_job_create(unsigned long nr_chunks)
{
	struct backup_job *job = kzalloc(sizeof(*job), GFP_KERNEL);

	if (!job)
		return NULL;
	kref_init(&job->ref);
	spin_lock_init(&job->lock);
	INIT_LIST_HEAD(&job->revisit);
	init_waitqueue_head(&job->live_wait);
	INIT_LIST_HEAD(&job->commit_copies);
	INIT_WORK(&job->commit_work, backup_job_commit_work);
	INIT_DELAYED_WORK(&job->commit_timer, backup_job_commit_timer);
	INIT_WORK(&job->retired_work, backup_job_retired_work);
	init_completion(&job->retired);
	INIT_WORK(&job->end_work, backup_job_end_work);
	INIT_LIST_HEAD(&job->ending_entry);
	INIT_DELAYED_WORK(&job->mark_stall_work, backup_job_mark_stall_work);
	bio_list_init(&job->mark_bios);
	generate_random_uuid(job->uuid);
	job->nr_chunks = nr_chunks;
	job->state = BACKUP_RUNNING;
	job->copied = backup_bitmap_alloc(nr_chunks);
	if (!job->copied) {
		kfree(job);
		return NULL;
	}
	return job;
}

struct backup_job *backup_job_get(struct backup_job *job)
{
	kref_get(&job->ref);
	return job;
}

/*
 * The end of a persistent job: its commit workqueue drains, then the job
 * is freed.  A commit may wait for ever on a metadata device that hangs,
 * so that runs in backup_job_end_wq, not in the put that ended the job,
 * which may be a table's destructor inside `dmsetup remove` or inside the
 * resume that replaced the table (an increment's, which then fails).
 * Until its end work has run, the job is on backup_jobs_ending, and no
 * new job opens its metadata device: a commit landing later would write
 * over that job's superblock.  Each ending job holds a reference to the
 * module.  The list and the jobs' @end_late are under
 * backup_jobs_ending_lock; backup_jobs_ended is woken as each one goes.
 */
static LIST_HEAD(backup_jobs_ending);
static DEFINE_SPINLOCK(backup_jobs_ending_lock);
static DECLARE_WAIT_QUEUE_HEAD(backup_jobs_ended);
static struct workqueue_struct *backup_job_end_wq;

static void backup_job_free(struct backup_job *job)
{
	/*
	 * Copies, ends and marks waiting for a commit hold an instance, so
	 * the job: none waits now, but the watchdog and the commit timer
	 * may still be queued.
	 */
	cancel_delayed_work_sync(&job->mark_stall_work);
	cancel_delayed_work_sync(&job->commit_timer);
	if (job->commit_wq)
		destroy_workqueue(job->commit_wq);
	backup_meta_close(job->meta);
	kvfree(job->changed);
	backup_job_chunks_free(job);
}

static void backup_job_end_work(struct work_struct *ws)
{
	struct backup_job *job = container_of(ws, struct backup_job, end_work);
	dev_t dev = job->meta_dev;
	bool late;

	backup_job_free(job);
	spin_lock(&backup_jobs_ending_lock);
	list_del(&job->ending_entry);
	late = job->end_late;
	spin_unlock(&backup_jobs_ending_lock);
	wake_up_all(&backup_jobs_ended);
	if (late)
		DMINFO("metadata device %u:%u: the last commit of a job whose table went has ended",
		       MAJOR(dev), MINOR(dev));
	kfree(job);
	/* Taken by backup_job_release(); module exit flushes this work. */
	module_put(THIS_MODULE);
}

static void backup_job_release(struct kref *ref)
{
	struct backup_job *job = container_of(ref, struct backup_job, ref);

	if (!job->meta) {
		backup_job_free(job);
		kfree(job);
		return;
	}
	job->meta_dev = backup_meta_dev(job->meta);
	__module_get(THIS_MODULE);
	spin_lock(&backup_jobs_ending_lock);
	list_add_tail(&job->ending_entry, &backup_jobs_ending);
	spin_unlock(&backup_jobs_ending_lock);
	queue_work(backup_job_end_wq, &job->end_work);
}

/* Is a job that ended still writing to metadata device @dev? */
static bool backup_job_ending_on(dev_t dev)
{
	struct backup_job *job;
	bool found = false;

	spin_lock(&backup_jobs_ending_lock);
	list_for_each_entry(job, &backup_jobs_ending, ending_entry)
		found = found || job->meta_dev == dev;
	spin_unlock(&backup_jobs_ending_lock);
	return found;
}

/* The waiter gave up: the end of each job on @dev says when it comes. */
static void backup_job_mark_end_late(dev_t dev)
{
	struct backup_job *job;

	spin_lock(&backup_jobs_ending_lock);
	list_for_each_entry(job, &backup_jobs_ending, ending_entry)
		if (job->meta_dev == dev)
			job->end_late = true;
	spin_unlock(&backup_jobs_ending_lock);
}

/*
 * Wait until no ended job writes to metadata device @dev any more, at most
 * @ms (0: for ever).  True if none does.  Normally at once: the end work
 * only drains an idle commit workqueue.
 */
bool backup_job_meta_dev_free(dev_t dev, unsigned int ms)
{
	if (!ms) {
		wait_event(backup_jobs_ended, !backup_job_ending_on(dev));
		return true;
	}
	if (wait_event_timeout(backup_jobs_ended, !backup_job_ending_on(dev),
			       msecs_to_jiffies(ms)))
		return true;
	backup_job_mark_end_late(dev);
	return false;
}

void backup_job_put(struct backup_job *job)
{
	if (job)
		kref_put(&job->ref, backup_job_release);
}

/*
 * Views reach the instance acting on their job through job->live: an
 * instance unpublished there is no longer used once synchronize_srcu()
 * returns (views route reads inside the read side).
 */
DEFINE_STATIC_SRCU(backup_job_srcu);

/*
 * The instance acting on @job, or NULL while the job changes hands or once
 * it is gone.  Until backup_job_live_unlock(@idx) the instance stays.
 */
struct backup_c *backup_job_live_lock(struct backup_job *job, int *idx)
	__acquires(backup_job_srcu)
{
	*idx = srcu_read_lock(&backup_job_srcu);
	return srcu_dereference(job->live, &backup_job_srcu);
}

void backup_job_live_unlock(int idx)
	__releases(backup_job_srcu)
{
	srcu_read_unlock(&backup_job_srcu, idx);
}

bool backup_job_gone(struct backup_job *job)
{
	return READ_ONCE(job->gone);
}

/*
 * Sleep until an instance acts on @job again (a handover ends); false if
 * the job is gone instead.
 */
bool backup_job_wait_live(struct backup_job *job)
{
	wait_event(job->live_wait, rcu_access_pointer(job->live) ||
		   backup_job_gone(job));
	return !backup_job_gone(job);
}

/*
 * No view reads through the instance acting on @job once this returns,
 * and the holds its view reads took are gone: the next instance's writes
 * do not look in the old instance's tree of cells.
 */
static void backup_job_unpublish(struct backup_job *job)
{
	struct backup_c *old = rcu_dereference_protected(job->live, true);

	if (!old)
		return;
	RCU_INIT_POINTER(job->live, NULL);
	synchronize_srcu(&backup_job_srcu);
	wait_event(old->copy_done_wait, !atomic_read(&old->nr_holds));
}

/*
 * @bc acts on @job from now on: at its first resume, or a reload's
 * instance taking the job over (handover).  Views pause meanwhile and then
 * follow.  Caller holds backup_jobs_lock.
 */
void backup_job_set_live(struct backup_job *job, struct backup_c *bc)
{
	if (rcu_access_pointer(job->live) == bc)
		return;
	backup_job_unpublish(job);
	rcu_assign_pointer(job->live, bc);
	wake_up_all(&job->live_wait);
}

/*
 * @bc's table goes.  If @bc acted on @job, nothing will again (a reload
 * that took the job over made its instance the live one before): the
 * job's views fail their reads from now on.  Caller holds
 * backup_jobs_lock.
 */
void backup_job_leave(struct backup_job *job, struct backup_c *bc)
{
	if (!job || rcu_access_pointer(job->live) != bc)
		return;
	backup_job_unpublish(job);
	WRITE_ONCE(job->gone, true);
	wake_up_all(&job->live_wait);
}

static const char * const backup_state_names[] = {
	[BACKUP_RUNNING]	= "running",
	[BACKUP_PAUSED]		= "paused",
	[BACKUP_COMPLETED]	= "completed",
	[BACKUP_FAILED]		= "failed",
	[BACKUP_CANCELLED]	= "cancelled",
};

const char *backup_state_name(enum backup_state state)
{
	return backup_state_names[state];
}

static const char * const backup_sync_mode_names[] = {
	[BACKUP_SYNC_FULL]	= "full",
	[BACKUP_SYNC_TOP]	= "top",
	[BACKUP_SYNC_NONE]	= "none",
};

/* Table lines, status and sysfs name the job's sync mode alike. */
const char *backup_sync_mode_name(enum backup_sync_mode mode)
{
	return backup_sync_mode_names[mode];
}

/*
 * Caller holds bc->job->lock.  The worker raises the dm event.  When the job
 * ends, the writes that wait for copies are let go at once, without the
 * worker (it may sleep for memory that stalled copies hold).
 */
void backup_set_state_locked(struct backup_c *bc, enum backup_state state)
{
	struct backup_job *job = bc->job;
	bool ends = backup_job_active(job->state) && !backup_job_active(state);

	lockdep_assert_held(&job->lock);
	if (job->state == state)
		return;
	trace_dm_backup_state(bc->dev, job->state, state);
	WRITE_ONCE(job->state, state);
	set_bit(BACKUP_EVENT_PENDING, &job->flags);
	if (ends && (!job->meta || job->end_committed)) {
		WRITE_ONCE(job->end_committed, true);
		backup_job_ended_locked(bc);
	} else if (ends && !job->end_bc) {
		/* The end goes to the metadata before the writes go on. */
		kref_get(&bc->ref);
		job->end_bc = bc;
	}
	if (job->meta)
		queue_work(job->commit_wq, &job->commit_work);
	backup_kick(bc);
}

/*
 * The backup device stalled: the job fails with @err at @chunk, and the
 * writes go on at once, without waiting for the metadata to record the
 * failure (its device may be the one that stalled).  Caller holds
 * bc->job->lock.
 */
void backup_job_break_locked(struct backup_c *bc, int err, unsigned long chunk)
{
	lockdep_assert_held(&bc->job->lock);
	if (!backup_job_active(bc->job->state))
		return;
	bc->job->last_error = err;
	bc->job->last_error_chunk = chunk;
	WRITE_ONCE(bc->job->end_committed, true);
	backup_set_state_locked(bc, BACKUP_FAILED);
}

/*
 * The job is done when every chunk is copied, or when the walk has been
 * everywhere and no copy is left in flight (chunks skipped under the
 * ignore policy stay uncopied).  Only the live instance completes it: a
 * replaced one, still holding the job until its destructor, must not.
 * Caller holds bc->job->lock.
 */
bool backup_job_done_locked(struct backup_c *bc)
{
	lockdep_assert_held(&bc->job->lock);
	/* In sync mode none the job runs until it is cancelled. */
	if (bc->job->state != BACKUP_RUNNING ||
	    bc->sync_mode == BACKUP_SYNC_NONE || !READ_ONCE(bc->live))
		return false;
	return bc->job->nr_copied == bc->nr_chunks ||
	       (bc->job->walk_cursor >= bc->nr_chunks &&
		backup_revisit_empty_locked(bc) &&
		RB_EMPTY_ROOT(&bc->inflight) &&
		bio_list_empty(&bc->deferred_bios));
}

/*
 * A copy failed: apply the error policies, as QEMU's backup_error_action()
 * does for the walk.  @spare may record chunks the walk looks at again.
 * Caller holds bc->job->lock.
 */
static enum backup_copy_verdict
backup_job_copy_failed_locked(struct backup_copy *copy, int err,
			      struct backup_range **spare)
{
	struct backup_c *bc = copy->bc;
	struct backup_job *job = bc->job;
	enum backup_error_policy policy;

	/*
	 * Find which chunks are bad before a policy judges them: the walk
	 * copies them one by one.  Without memory to note that, the policy
	 * judges the whole copy.
	 */
	if (copy->for_walk && copy->cell.nr_chunks > 1 &&
	    backup_job_active(job->state) &&
	    backup_revisit_add_locked(bc, copy->cell.chunk,
				      copy->cell.chunk + copy->cell.nr_chunks, spare))
		return BACKUP_COPY_RETRY;
	if (copy->read_failed)
		job->source_errors++;
	else
		job->target_errors++;
	if (!backup_job_active(job->state))
		return BACKUP_COPY_RELEASE;
	if (job->meta_broken) {
		/* No policy helps a job that cannot record its progress. */
		job->last_error = err;
		job->last_error_chunk = copy->cell.chunk;
		backup_set_state_locked(bc, BACKUP_FAILED);
		return BACKUP_COPY_RELEASE;
	}
	job->last_error = err;
	job->last_error_chunk = copy->cell.chunk;

	if (!copy->for_walk) {
		if (bc->on_cbw_error == BACKUP_CBW_FAIL_WRITE) {
			/* The chunk stays uncopied: the walk retries it. */
			backup_cell_revisit_locked(bc, &copy->cell, spare);
			return BACKUP_COPY_FAIL_WRITES;
		}
		backup_set_state_locked(bc, BACKUP_FAILED);
		return BACKUP_COPY_RELEASE;
	}

	policy = copy->read_failed ? bc->on_source_error : bc->on_target_error;
	if (policy == BACKUP_ERROR_ENOSPC)
		policy = err == -ENOSPC ? BACKUP_ERROR_STOP : BACKUP_ERROR_REPORT;
	switch (policy) {
	case BACKUP_ERROR_IGNORE:
		job->skipped_chunks += copy->cell.nr_chunks;
		break;
	case BACKUP_ERROR_STOP:
		backup_cell_revisit_locked(bc, &copy->cell, spare);
		backup_set_state_locked(bc, BACKUP_PAUSED);
		break;
	default:
		backup_set_state_locked(bc, BACKUP_FAILED);
		break;
	}
	return BACKUP_COPY_RELEASE;
}

/*
 * The copy engine's report of a copy that ended with @err, 0 when its
 * chunks are on the backup device (struct backup_engine_ops).  Caller
 * holds bc->job->lock.
 */
enum backup_copy_verdict
backup_job_copy_ended_locked(struct backup_copy *copy, int err,
			     struct backup_range **spare)
{
	struct backup_c *bc = copy->bc;
	struct backup_job *job = bc->job;

	lockdep_assert_held(&job->lock);
	if (err)
		return backup_job_copy_failed_locked(copy, err, spare);
	backup_mark_copied_locked(bc, copy->cell.chunk, copy->cell.nr_chunks);
	job->zero_chunks += copy->nr_zero;
	if (!copy->for_walk)
		job->cbw_chunks += copy->cell.nr_chunks;
	return backup_job_done_locked(bc) ? BACKUP_COPY_JOB_DONE :
					    BACKUP_COPY_RELEASE;
}

/*
 * The copy engine's report of a write that waited more than cbw_timeout
 * for the copy of @chunk (struct backup_engine_ops): under on_cbw_error
 * break_backup the job fails (true: every waiting write goes on), under
 * fail_write the writes that waited too long fail (false).  Caller holds
 * bc->job->lock.
 */
bool backup_job_write_stalled_locked(struct backup_c *bc, unsigned long chunk)
{
	lockdep_assert_held(&bc->job->lock);
	if (bc->on_cbw_error != BACKUP_CBW_BREAK_BACKUP) {
		bc->job->last_error = -ETIMEDOUT;
		bc->job->last_error_chunk = chunk;
		return false;
	}
	backup_job_break_locked(bc, -ETIMEDOUT, chunk);
	return true;
}

/*
 * Messages "pause" (the walk stops, copy-before-write goes on) and
 * "resume" (the walk goes on, from the chunk that failed if the stop
 * policy paused it).  Refused once the job has ended.
 */
static int backup_set_active_state(struct backup_c *bc,
				   enum backup_state state)
{
	int r = 0;

	spin_lock(&bc->job->lock);
	if (backup_job_active(bc->job->state))
		backup_set_state_locked(bc, state);
	else
		r = -EINVAL;
	spin_unlock(&bc->job->lock);
	return r;
}

int backup_pause(struct backup_c *bc)
{
	return backup_set_active_state(bc, BACKUP_PAUSED);
}

int backup_resume_job(struct backup_c *bc)
{
	int r = backup_set_active_state(bc, BACKUP_RUNNING);

	backup_kick(bc);
	return r;
}

/* Message "cancel": a job that has ended stays as it ended. */
int backup_cancel(struct backup_c *bc)
{
	spin_lock(&bc->job->lock);
	if (backup_job_active(bc->job->state))
		backup_set_state_locked(bc, BACKUP_CANCELLED);
	spin_unlock(&bc->job->lock);
	return 0;
}

/*-------------------------------------------------------------------------*/
/* Persistent jobs: the job's state on its metadata device */

/* A job whose state came from its metadata device, not from this table. */
bool backup_job_persisted(struct backup_job *job)
{
	return job->meta && backup_meta_has_job(job->meta);
}

static void backup_job_load_record(struct backup_job *job,
				   const struct backup_meta_record *rec)
{
	memcpy(job->uuid, rec->uuid, sizeof(job->uuid));
	job->pit_ns = rec->pit_ns;
	job->state = rec->state;
	job->last_error = rec->last_error;
	job->last_error_chunk = rec->last_error_chunk;
	job->cbw_chunks = rec->cbw_chunks;
	job->zero_chunks = rec->zero_chunks;
	job->source_errors = rec->source_errors;
	job->target_errors = rec->target_errors;
	job->skipped_chunks = rec->skipped_chunks;
	job->track_lost = rec->track_lost;
	job->super_track_lost = rec->track_lost;
	if (job->track) {
		bitmap_copy(job->changed, backup_meta_changed(job->meta),
			    job->nr_chunks);
		job->nr_changed = bitmap_weight(job->changed, job->nr_chunks);
	}
	/* An ended job stays as the metadata says: its writes are free. */
	job->end_committed = !backup_job_active(job->state);
	backup_job_load_copied(job, backup_meta_copied(job->meta),
			       rec->unmapped_chunks);
}

/* Caller holds job->lock. */
static void backup_job_fill_record_locked(struct backup_job *job,
					  struct backup_meta_record *rec)
{
	lockdep_assert_held(&job->lock);
	memcpy(rec->uuid, job->uuid, sizeof(rec->uuid));
	rec->pit_ns = job->pit_ns;
	rec->state = job->state;
	rec->last_error = job->last_error;
	rec->last_error_chunk = job->last_error_chunk;
	rec->unmapped_chunks = job->nr_unmapped;
	rec->cbw_chunks = job->cbw_chunks;
	rec->zero_chunks = job->zero_chunks;
	rec->source_errors = job->source_errors;
	rec->target_errors = job->target_errors;
	rec->skipped_chunks = job->skipped_chunks;
	rec->track_lost = job->track_lost;
}

/*
 * Constructor of a new job's first table with "meta": open the metadata
 * device.  A job found there (it must match the table) is this job from
 * now on: its point in time, state, counters and copied chunks.
 */
int backup_job_open_meta(struct backup_c *bc, char **error)
{
	struct backup_job *job = bc->job;
	struct backup_meta_geometry geo = {
		.origin_sectors = bc->ti->len,
		.backup_sectors = bdev_nr_sectors(bc->backup->bdev),
		.chunk_sectors = bc->chunk_sectors,
		.sync_mode = bc->sync_mode,
		.nr_chunks = bc->nr_chunks,
		.track = bc->track,
		.parent = bc->increment ? bc->parent : NULL,
	};
	struct backup_meta_record rec;
	int r;

	if (bc->track) {
		job->track = true;
		job->changed = backup_bitmap_alloc(bc->nr_chunks);
		if (!job->changed) {
			*error = "Cannot allocate the changed bitmap";
			return -ENOMEM;
		}
	}
	if (!backup_job_meta_dev_free(bc->meta->bdev->bd_dev, bc->cbw_timeout)) {
		*error = "Metadata device still has a commit in flight from a table that went";
		return -EBUSY;
	}
	r = backup_meta_open(bc->meta->bdev, &geo, bc->cbw_timeout, &job->meta,
			     error);
	if (r)
		return r;
	job->commit_wq = alloc_ordered_workqueue("dm-" DM_MSG_PREFIX "-commit",
						 WQ_MEM_RECLAIM);
	if (!job->commit_wq) {
		*error = "Cannot allocate the commit workqueue";
		return -ENOMEM;
	}
	if (backup_meta_has_job(job->meta)) {
		backup_meta_get_record(job->meta, &rec);
		backup_job_load_record(job, &rec);
		job->super_state = rec.state;
		job->super_written = jiffies;
	}
	return 0;
}

/*
 * An increment's first resume: it copies the chunks its parent recorded,
 * and the metadata holds it, not the parent, from now on.  No instance
 * acts on the job yet: its bitmap is free to load.
 */
static int backup_job_start_increment(struct backup_job *job,
				      struct backup_meta_record *rec)
{
	unsigned long unmapped;
	int r;

	r = backup_meta_start_increment(job->meta, rec, &unmapped);
	if (!r)
		backup_job_load_copied(job, backup_meta_copied(job->meta),
				       unmapped);
	return r;
}

/* Every commit queued before backup_job_retire_meta() has ended. */
static void backup_job_retired_work(struct work_struct *ws)
{
	complete(&container_of(ws, struct backup_job, retired_work)->retired);
}

/*
 * An increment of @job's record takes its metadata device over: @job's
 * table is suspended (its writes and their marks are done) and goes, and
 * nothing of @job may reach the device from now on.  Called before the
 * increment writes there, it waits for the commit in flight, at most @ms
 * (0: for ever).  A commit that hangs on the device must not hold the
 * resume, the volume suspended, for ever; nor may the increment start, as
 * that commit would land over its superblock.  So -ETIMEDOUT: @job keeps
 * the device, its record lost (the volume goes on without its table), and
 * says so once the device answers.
 */
int backup_job_retire_meta(struct backup_job *job, unsigned int ms)
{
	if (!job->meta)
		return 0;
	WRITE_ONCE(job->meta_retired, true);
	reinit_completion(&job->retired);
	queue_work(job->commit_wq, &job->retired_work);
	if (!ms) {
		wait_for_completion(&job->retired);
		return 0;
	}
	if (wait_for_completion_timeout(&job->retired, msecs_to_jiffies(ms)))
		return 0;
	spin_lock(&job->lock);
	job->track_lost = job->track;
	spin_unlock(&job->lock);
	WRITE_ONCE(job->meta_retired, false);
	queue_work(job->commit_wq, &job->commit_work);
	return -ETIMEDOUT;
}

/*
 * The workqueue of the jobs' ends, and the metadata's own, for the I/O a
 * load or resume gave up on.
 */
int backup_job_module_init(void)
{
	int r;

	backup_job_end_wq = alloc_workqueue("dm-" DM_MSG_PREFIX "-end", 0, 0);
	if (!backup_job_end_wq)
		return -ENOMEM;
	r = backup_meta_module_init();
	if (r)
		destroy_workqueue(backup_job_end_wq);
	return r;
}

/* No job is ending: each holds a reference to the module. */
void backup_job_module_exit(void)
{
	destroy_workqueue(backup_job_end_wq);
	backup_meta_module_exit();
}

/*
 * First resume of the job's first table: the point in time is now.  A
 * persistent job formats its metadata device before any write reaches the
 * origin; if that fails, so does the resume.
 */
int backup_job_start(struct backup_c *bc)
{
	struct backup_job *job = bc->job;
	struct backup_meta_record rec;
	bool increment;
	int r;

	if (job->pit_ns)
		return 0;
	job->pit_ns = ktime_get_real_ns();
	if (!job->meta)
		return 0;
	spin_lock(&job->lock);
	backup_job_fill_record_locked(job, &rec);
	spin_unlock(&job->lock);
	increment = backup_meta_increment_pending(job->meta);
	if (increment)
		r = backup_job_start_increment(job, &rec);
	else
		r = backup_meta_format(job->meta, &rec,
				       backup_job_copied_bits(job));
	job->super_state = rec.state;
	job->super_written = jiffies;
	if (r) {
		DMERR("%s: cannot %s on the metadata device: error %d",
		      bc->name, increment ? "start the increment" : "format a new job", r);
		job->pit_ns = 0;
	}
	return r;
}

/*
 * Copies put off for a later commit (see backup_job_commit_delay_locked())
 * are committed now.  Without such copies no commit starts: it would write
 * the superblock's counters, and a hung metadata device would then hold
 * an increment's takeover (backup_job_retire_meta()).
 */
void backup_job_commit_deferred(struct backup_job *job)
{
	spin_lock(&job->lock);
	if (!list_empty(&job->commit_copies))
		queue_work(job->commit_wq, &job->commit_work);
	spin_unlock(&job->lock);
}

/* The time copies may wait for a commit is up (system_wq). */
static void backup_job_commit_timer(struct work_struct *ws)
{
	backup_job_commit_deferred(container_of(to_delayed_work(ws),
						struct backup_job,
						commit_timer));
}

/*
 * How long the commit of @copy, just written, may wait for more copies to
 * share it (0: it starts now).  Caller holds job->lock.
 *  - A walk copy's, that nobody waits for: BACKUP_WALK_COMMIT_DELAY, while
 *    the batch is small and the walk goes on.
 *  - A first write's, while other first writes' copies still read or
 *    write: until the last of them is written and commits, at most
 *    BACKUP_CBW_COMMIT_DELAY (dm-snapshot's persistent store, too, waits
 *    for the exceptions in flight).  queue_delayed_work() does not
 *    shorten a walk batch's timer, so not while one runs.
 * The timer (@commit_timer) queues the commit of whatever waits then.
 */
static unsigned long backup_job_commit_delay_locked(struct backup_job *job,
						    struct backup_copy *copy)
{
	lockdep_assert_held(&job->lock);
	if (!list_empty(&copy->cell.view_waiters))
		return 0;
	if (copy->for_walk) {
		/* The last copies of the walk: the job completes after them. */
		if (!bio_list_empty(&copy->cell.waiters) ||
		    job->walk_cursor >= job->nr_chunks)
			return 0;
		return ++job->walk_deferred < BACKUP_WALK_COMMIT_COPIES ?
		       BACKUP_WALK_COMMIT_DELAY : 0;
	}
	if (job->walk_deferred || !backup_cbw_copies_busy(copy->bc))
		return 0;
	return BACKUP_CBW_COMMIT_DELAY;
}

/*
 * The copy engine's report that a copy's data is written (struct
 * backup_engine_ops): a running persistent job keeps the copy in flight,
 * its writes waiting, until a commit has made its data durable and
 * recorded its bits.  Its commit may wait for more copies to share it.
 */
bool backup_job_copy_written(struct backup_copy *copy)
{
	struct backup_job *job = copy->bc->job;
	unsigned long delay;
	bool take;

	if (!job->meta)
		return false;
	spin_lock(&job->lock);
	take = backup_job_active(job->state);
	if (take) {
		list_add_tail(&copy->list, &job->commit_copies);
		delay = backup_job_commit_delay_locked(job, copy);
		if (delay)
			queue_delayed_work(system_wq, &job->commit_timer,
					   delay);
		else
			queue_work(job->commit_wq, &job->commit_work);
	}
	spin_unlock(&job->lock);
	return take;
}

/*
 * The copy engine's report that a write waits for a copy in flight
 * (struct backup_engine_ops): if that may be a walk copy whose commit
 * waits, the commit starts now.
 */
void backup_job_copy_awaited_locked(struct backup_c *bc)
{
	struct backup_job *job = bc->job;

	lockdep_assert_held(&job->lock);
	if (job->walk_deferred)
		queue_work(job->commit_wq, &job->commit_work);
}

/*
 * The copies of @batch are written: make their data durable, then their
 * bits.  A failed backup flush fails the copies (the error policies judge
 * them); a failed metadata write breaks the metadata for good.
 */
static int backup_job_commit_copies(struct backup_job *job,
				    struct list_head *batch)
{
	struct backup_copy *copy;
	int r;

	/* One flush for the copies whose data did not go with FUA. */
	list_for_each_entry(copy, batch, list) {
		if (copy->fua)
			continue;
		r = blkdev_issue_flush(copy->bc->backup_bdev);
		if (r)
			return r;
		break;
	}
	list_for_each_entry(copy, batch, list)
		backup_meta_set_copied(job->meta, copy->cell.chunk,
				       copy->cell.nr_chunks);
	return 0;
}

static int backup_job_commit_record(struct backup_job *job)
{
	struct backup_meta_record rec;
	bool super;
	int r;

	if (READ_ONCE(job->meta_broken) || READ_ONCE(job->meta_retired))
		return -EIO;
	spin_lock(&job->lock);
	backup_job_fill_record_locked(job, &rec);
	spin_unlock(&job->lock);
	/*
	 * The bits are what a crash must find; the superblock only when the
	 * state changed, and for the counters at most once a second.
	 */
	super = rec.state != job->super_state ||
		rec.track_lost != job->super_track_lost ||
		time_after_eq(jiffies, job->super_written + HZ);
	r = backup_meta_commit(job->meta, &rec, super);
	if (!r && super) {
		job->super_state = rec.state;
		job->super_track_lost = rec.track_lost;
		job->super_written = jiffies;
	}
	if (r) {
		WRITE_ONCE(job->meta_broken, true);
		DMERR("cannot commit to the metadata device %u:%u: error %d",
		      MAJOR(backup_meta_dev(job->meta)),
		      MINOR(backup_meta_dev(job->meta)), r);
	}
	return r;
}

/*
 * The ended job is on the metadata device (or never will be): the writes
 * that waited for that go on.
 */
static void backup_job_end_committed(struct backup_job *job,
				     struct backup_c *bc)
{
	spin_lock(&job->lock);
	WRITE_ONCE(job->end_committed, true);
	backup_job_ended_locked(bc);
	spin_unlock(&job->lock);
	backup_put(bc);
}

/*
 * One commit, for everything that asked since the last one began: the
 * copies written meanwhile, a changed state, the counters.
 */
static void backup_job_commit_work(struct work_struct *ws)
{
	struct backup_job *job = container_of(ws, struct backup_job,
					      commit_work);
	struct backup_copy *copy, *tmp;
	struct backup_c *end_bc;
	LIST_HEAD(batch);
	int r;

	u64 marks;

	spin_lock(&job->lock);
	list_splice_init(&job->commit_copies, &batch);
	/* Their timer, if any, would hold the next copies' commit. */
	job->walk_deferred = 0;
	cancel_delayed_work(&job->commit_timer);
	end_bc = job->end_bc;
	job->end_bc = NULL;
	/* The chunks of these marks are in the metadata's bitmap already. */
	marks = job->marks_requested;
	spin_unlock(&job->lock);

	r = backup_job_commit_copies(job, &batch);
	if (!r)
		r = backup_job_commit_record(job);
	list_for_each_entry_safe(copy, tmp, &batch, list) {
		list_del_init(&copy->list);
		backup_copy_committed(copy, r);
	}
	if (job->track)
		backup_job_marks_committed(job, marks, r);
	if (end_bc)
		backup_job_end_committed(job, end_bc);
}

/*-------------------------------------------------------------------------*/
/* Change tracking: mark before write */

static u64 *backup_bio_mark(struct bio *bio)
{
	struct backup_bio_info *info = dm_per_bio_data(bio, sizeof(*info));

	return &info->mark;
}

static unsigned long backup_bio_waited_since(struct bio *bio)
{
	struct backup_bio_info *info = dm_per_bio_data(bio, sizeof(*info));

	return info->arrival;
}

/* Are the marks of every chunk @bio writes committed? */
static bool backup_job_bio_marked(struct backup_c *bc, struct bio *bio)
{
	unsigned long first, last;

	backup_bio_chunks(bc, bio, &first, &last);
	return find_next_zero_bit(bc->job->changed, last + 1, first) > last;
}

/*
 * Take the writes waiting for marks: those up to mark @upto (all of them
 * if @upto is U64_MAX).  With @committed their chunks' marks are durable.
 * Drops the instance's reference once none waits.  Caller holds job->lock.
 */
static struct backup_c *backup_job_take_marked_locked(struct backup_job *job,
						      u64 upto, bool committed,
						      struct bio_list *out)
{
	struct backup_c *bc = job->mark_bc, *put = NULL;
	unsigned long first, last;
	struct bio *bio;

	lockdep_assert_held(&job->lock);
	while ((bio = bio_list_peek(&job->mark_bios)) &&
	       *backup_bio_mark(bio) <= upto) {
		bio_list_pop(&job->mark_bios);
		bio_list_add(out, bio);
		if (!committed)
			continue;
		backup_bio_chunks(bc, bio, &first, &last);
		for (; first <= last; first++)
			if (!test_and_set_bit(first, job->changed))
				job->nr_changed++;
	}
	if (bio_list_empty(&job->mark_bios)) {
		put = bc;
		job->mark_bc = NULL;
	} else {
		job->mark_since = backup_bio_waited_since(bio);
	}
	return put;
}

/*
 * The marks could not be committed (@err), or waited too long: under
 * on_cbw_error fail_write the writes fail and the record stays exact,
 * otherwise they go on and the record is lost from now on.
 */
static void backup_job_marks_failed(struct backup_c *bc, struct bio_list *bios,
				    int err)
{
	struct bio *bio;

	if (bc->on_cbw_error == BACKUP_CBW_FAIL_WRITE) {
		while ((bio = bio_list_pop(bios))) {
			bio->bi_status = errno_to_blk_status(err);
			bio_endio(bio);
		}
		return;
	}
	backup_resubmit(bc, bios);
}

/* Writes whose marks a commit (@err 0) recorded go on; see above if not. */
static void backup_job_marks_committed(struct backup_job *job, u64 upto,
				       int err)
{
	struct bio_list bios = BIO_EMPTY_LIST;
	struct backup_c *bc, *put;

	spin_lock(&job->lock);
	bc = job->mark_bc;
	if (!bc) {
		spin_unlock(&job->lock);
		return;
	}
	if (err && bc->on_cbw_error != BACKUP_CBW_FAIL_WRITE)
		job->track_lost = true;
	put = backup_job_take_marked_locked(job, upto, !err, &bios);
	spin_unlock(&job->lock);

	if (err) {
		DMERR_LIMIT("%s: cannot record written chunks: error %d: %s",
			    bc->name, err, bc->on_cbw_error == BACKUP_CBW_FAIL_WRITE ?
			    "writes failed" : "change record lost");
		backup_job_marks_failed(bc, &bios, err);
	} else {
		backup_resubmit(bc, &bios);
	}
	if (put)
		backup_put(put);
}

/*
 * The watchdog of writes waiting for marks: none waits longer than
 * cbw_timeout, whatever the metadata device does.
 */
static void backup_job_mark_stall_work(struct work_struct *ws)
{
	struct backup_job *job = container_of(to_delayed_work(ws),
					      struct backup_job,
					      mark_stall_work);
	struct bio_list bios = BIO_EMPTY_LIST;
	struct backup_c *bc, *put;
	unsigned long deadline;
	unsigned int ms;

	spin_lock(&job->lock);
	bc = job->mark_bc;
	ms = bc ? READ_ONCE(bc->cbw_timeout) : 0;
	if (!ms) {
		spin_unlock(&job->lock);
		return;
	}
	deadline = job->mark_since + msecs_to_jiffies(ms);
	if (time_before(jiffies, deadline)) {
		queue_delayed_work(system_wq, &job->mark_stall_work,
				   deadline - jiffies);
		spin_unlock(&job->lock);
		return;
	}
	if (bc->on_cbw_error != BACKUP_CBW_FAIL_WRITE)
		job->track_lost = true;
	put = backup_job_take_marked_locked(job, U64_MAX, false, &bios);
	spin_unlock(&job->lock);

	DMERR_LIMIT("%s: a write waited more than %u ms for its change record: %s",
		    bc->name, ms, bc->on_cbw_error == BACKUP_CBW_FAIL_WRITE ?
		    "write failed (on_cbw_error fail_write)" :
		    "change record lost (metadata device stalled)");
	backup_job_marks_failed(bc, &bios, -ETIMEDOUT);
	/* The record says it is lost, once the metadata device answers. */
	queue_work(job->commit_wq, &job->commit_work);
	if (put)
		backup_put(put);
}

/*
 * map() of a write to a tracking job: true if it may go on (every chunk
 * it writes has its mark committed, or the record is lost), false if it
 * waits for a commit that records its chunks (mark before write).
 */
bool backup_job_mark_write(struct backup_c *bc, struct bio *bio)
{
	struct backup_job *job = bc->job;
	unsigned long first, last;
	unsigned int ms;

	if (!job->track || READ_ONCE(job->track_lost) ||
	    backup_job_bio_marked(bc, bio))
		return true;

	spin_lock(&job->lock);
	if (job->track_lost || backup_job_bio_marked(bc, bio)) {
		spin_unlock(&job->lock);
		return true;
	}
	backup_bio_chunks(bc, bio, &first, &last);
	for (; first <= last; first++)
		backup_meta_set_changed(job->meta, first);
	*backup_bio_mark(bio) = ++job->marks_requested;
	if (bio_list_empty(&job->mark_bios)) {
		job->mark_since = backup_bio_waited_since(bio);
		job->mark_bc = bc;
		kref_get(&bc->ref);
		ms = READ_ONCE(bc->cbw_timeout);
		if (ms)
			queue_delayed_work(system_wq, &job->mark_stall_work,
					   msecs_to_jiffies(ms));
	}
	bio_list_add(&job->mark_bios, bio);
	spin_unlock(&job->lock);
	queue_work(job->commit_wq, &job->commit_work);
	return false;
}
