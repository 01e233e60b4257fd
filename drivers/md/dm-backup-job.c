// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup job state: the state machine of a backup job (running,
 * paused, completed, failed, cancelled), when a job is done, and the
 * messages that move it (pause, resume, cancel).
 *
 * Every state change goes through backup_set_state_locked(), under
 * bc->lock: it traces the change, marks the dm event the worker raises,
 * and when the job ends lets every write that waits for a copy go.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include "dm-backup.h"
#include "dm_backup_trace.h"

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
 * Caller holds bc->lock.  The worker raises the dm event.  When the job
 * ends, the writes that wait for copies are let go at once, without the
 * worker (it may sleep for memory that stalled copies hold).
 */
void backup_set_state_locked(struct backup_c *bc, enum backup_state state)
{
	bool ends = backup_job_active(bc->state) && !backup_job_active(state);

	lockdep_assert_held(&bc->lock);
	if (bc->state == state)
		return;
	trace_dm_backup_state(bc->dev, bc->state, state);
	WRITE_ONCE(bc->state, state);
	set_bit(BACKUP_EVENT_PENDING, &bc->flags);
	if (ends)
		backup_job_ended_locked(bc);
	backup_kick(bc);
}

/*
 * The job is done when every chunk is copied, or when the walk has been
 * everywhere and no copy is left in flight (chunks skipped under the
 * ignore policy stay uncopied).  Caller holds bc->lock.
 */
bool backup_job_done_locked(struct backup_c *bc)
{
	lockdep_assert_held(&bc->lock);
	/* In sync mode none the job runs until it is cancelled. */
	if (bc->state != BACKUP_RUNNING || bc->sync_mode == BACKUP_SYNC_NONE)
		return false;
	return bc->nr_copied == bc->nr_chunks ||
	       (bc->walk_cursor >= bc->nr_chunks &&
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

	spin_lock(&bc->lock);
	if (backup_job_active(bc->state))
		backup_set_state_locked(bc, state);
	else
		r = -EINVAL;
	spin_unlock(&bc->lock);
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
	spin_lock(&bc->lock);
	if (backup_job_active(bc->state))
		backup_set_state_locked(bc, BACKUP_CANCELLED);
	spin_unlock(&bc->lock);
	return 0;
}
