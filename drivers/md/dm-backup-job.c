// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup job: the job object, shared by the table instances that hold
 * it, its state machine (running, paused, completed, failed, cancelled),
 * when a job is done, and the messages that move it (pause, resume,
 * cancel).
 *
 * Every state change goes through backup_set_state_locked(), under
 * job->lock: it traces the change, marks the dm event the worker raises,
 * and when the job ends lets every write that waits for a copy go.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/slab.h>

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
