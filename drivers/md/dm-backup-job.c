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
#include <linux/slab.h>
#include <linux/srcu.h>

#include "dm-backup.h"
#include "dm_backup_trace.h"

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

static void backup_job_release(struct kref *ref)
{
	struct backup_job *job = container_of(ref, struct backup_job, ref);

	backup_job_chunks_free(job);
	kfree(job);
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
	bool ends = backup_job_active(bc->job->state) && !backup_job_active(state);

	lockdep_assert_held(&bc->job->lock);
	if (bc->job->state == state)
		return;
	trace_dm_backup_state(bc->dev, bc->job->state, state);
	WRITE_ONCE(bc->job->state, state);
	set_bit(BACKUP_EVENT_PENDING, &bc->job->flags);
	if (ends)
		backup_job_ended_locked(bc);
	backup_kick(bc);
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
	bc->job->last_error = -ETIMEDOUT;
	bc->job->last_error_chunk = chunk;
	if (bc->on_cbw_error != BACKUP_CBW_BREAK_BACKUP)
		return false;
	backup_set_state_locked(bc, BACKUP_FAILED);
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
