/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-backup: a live point-in-time backup of a block device.
 *
 * Shared state of the dm glue (dm-backup-target.c), the job's state
 * machine (dm-backup-job.c), the chunk state (dm-backup-chunks.c), the
 * copy engine (dm-backup-copy.c) and the background walk
 * (dm-backup-walk.c).  A persistent job's metadata has its own header,
 * dm-backup-metadata.h, which only the job includes.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#ifndef DM_BACKUP_H
#define DM_BACKUP_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/kref.h>
#include <linux/mempool.h>
#include <linux/rbtree.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#define DM_MSG_PREFIX "backup"

/* Chunk size bounds and default, in 512-byte sectors. */
#define BACKUP_MIN_CHUNK_SECTORS	8
#define BACKUP_MAX_CHUNK_SECTORS	2048
#define BACKUP_DEFAULT_CHUNK_SECTORS	128

/* One copy moves at most this much: one read bio, a few write bios. */
#define BACKUP_COPY_MAX_BYTES		(1024 * 1024)
#define BACKUP_COPY_MAX_PAGES		(BACKUP_COPY_MAX_BYTES / PAGE_SIZE)

/*
 * Bounds on copies in flight per device, so that memory stays flat under
 * any write load: at most BACKUP_MAX_COPIES copy structures and
 * BACKUP_MAX_PAGES pages of copy buffers.  The walk keeps to half of the
 * pages so that copy-before-write always finds room.
 */
#define BACKUP_MAX_COPIES		256
/*
 * Copy structures kept in reserve: the worker needs one at a time; the
 * rest is slack for copy-before-write.
 */
#define BACKUP_COPY_RESERVE		4
/* Holds kept in reserve: a view read re-routed from copy_wq needs one. */
#define BACKUP_HOLD_RESERVE		2
#define BACKUP_MAX_PAGES		(16 * 1024 * 1024 / PAGE_SIZE)
#define BACKUP_WALK_MAX_PAGES		(BACKUP_MAX_PAGES / 2)
/* Pages of ended copies kept for the next ones, see backup_cache_pages(). */
#define BACKUP_CACHED_PAGES		BACKUP_WALK_MAX_PAGES

/*
 * A persistent job commits the walk's copies in batches: nothing waits for
 * them, and a crash only makes the walk copy them again.  A written walk
 * copy waits at most BACKUP_WALK_COMMIT_DELAY for its commit, and no
 * longer than it takes BACKUP_WALK_COMMIT_COPIES of them to be written,
 * so the walk costs one flush and one bitmap write per batch, not per
 * copy.  A write to one of their chunks commits at once.
 */
#define BACKUP_WALK_COMMIT_DELAY	(HZ / 10)
#define BACKUP_WALK_COMMIT_COPIES	16
/*
 * A first write's commit waits at most this long for the other first
 * writes' copies in flight, so that concurrent first writes share it.
 */
#define BACKUP_CBW_COMMIT_DELAY		1

/*
 * How long a write may wait for the copy of its chunk before the job gives
 * up on the backup device (on_cbw_error decides what then happens to the
 * write).  30 s: longer than a SCSI command timeout or a multipath path
 * switch, so a slow but living backup device does not break the backup, and
 * well below the 120 s after which the kernel reports hung tasks and
 * applications give up on their I/O.
 */
#define BACKUP_DEFAULT_CBW_TIMEOUT_MS	30000
/* Longest cbw_timeout accepted (one day), so jiffies never overflow. */
#define BACKUP_MAX_CBW_TIMEOUT_MS	(24U * 3600 * 1000)

/* The throttle works in slices of 100 ms, as the QEMU job does. */
#define BACKUP_SLICE_NS			(100 * NSEC_PER_MSEC)

/* The open mode of dm_get_device() became a blk_mode_t in 6.5. */
#ifdef BLK_OPEN_WRITE
#define BACKUP_OPEN_WRITE	BLK_OPEN_WRITE
#define BACKUP_OPEN_READ	BLK_OPEN_READ
#else
#define BACKUP_OPEN_WRITE	FMODE_WRITE
#define BACKUP_OPEN_READ	FMODE_READ
#endif

enum backup_sync_mode {
	BACKUP_SYNC_FULL,
	BACKUP_SYNC_TOP,
	BACKUP_SYNC_NONE,
};

/* What the walk does when a copy fails (the seed's BlockdevOnError). */
enum backup_error_policy {
	BACKUP_ERROR_REPORT,	/* the job fails */
	BACKUP_ERROR_IGNORE,	/* skip the chunks, count them, go on */
	BACKUP_ERROR_STOP,	/* pause; "resume" retries the chunks */
	BACKUP_ERROR_ENOSPC,	/* stop on -ENOSPC, report otherwise */
};

/* What a failed copy-before-write does to the write that waits for it. */
enum backup_cbw_policy {
	BACKUP_CBW_BREAK_BACKUP,	/* fail the job, let the write through */
	BACKUP_CBW_FAIL_WRITE,		/* fail the write, keep the backup exact */
};

enum backup_state {
	BACKUP_RUNNING,
	BACKUP_PAUSED,
	BACKUP_COMPLETED,
	BACKUP_FAILED,
	BACKUP_CANCELLED,
};

/* Bits of backup_job->flags. */
enum backup_job_flag {
	BACKUP_EVENT_PENDING,	/* a state changed: the worker raises a dm event */
	BACKUP_NO_WRITE_ZEROES,	/* the backup device failed a WRITE_ZEROES once */
};

/*
 * A backup job: its point in time and how far it got.  The table instance
 * that starts it creates it; a reloaded table on the same origin and
 * backup device takes a reference to it in its constructor (handover), so
 * a reload moves nothing and a table that is loaded but never resumed
 * leaves the job as it was.  Only the live instance (backup_c->live) acts
 * on the job; the others hold it.  A persistent job keeps its state on a
 * metadata device as well (@meta, dm-backup-metadata.c).
 */
struct backup_job {
	/* One per backup_c holding the job: the live one, a reloaded one. */
	struct kref ref;
	unsigned long nr_chunks;
	/*
	 * Protects everything below but @flags, and the in-flight state of
	 * every instance holding the job (backup_c->inflight, its copies'
	 * waiters, deferred_bios, pending_copies, copies_started): one lock,
	 * so a handover needs no lock order between two instances.  Taken
	 * from process context only (map, workers, message), never from bio
	 * completion (which queues work on copy_wq): a plain spin_lock.
	 */
	spinlock_t lock;
	/*
	 * One bit per chunk, set once the chunk's copy has reached the backup
	 * device, never cleared.  map() tests it without the lock: a set bit
	 * means the chunk is safe to overwrite.
	 */
	unsigned long *copied;
	unsigned long nr_copied;
	/*
	 * In top mode the chunks the map leaves out start with their bit set
	 * (nothing to copy, no copy-before-write); progress leaves them out.
	 */
	unsigned long nr_unmapped;
	/*
	 * Next chunk the walk looks at: a copy that fails under the stop
	 * policy (or fail_write) puts its chunks on @revisit.
	 */
	unsigned long walk_cursor;
	/*
	 * Ranges of chunks behind @walk_cursor that the walk looks at again,
	 * one chunk at a time, before it goes on at the cursor: struct
	 * backup_range, disjoint (dm-backup-chunks.c).
	 */
	struct list_head revisit;
	enum backup_state state;
	/* Counters for the status line. */
	unsigned long cbw_chunks;	/* chunks copied because a write came */
	unsigned long zero_chunks;	/* chunks written as WRITE_ZEROES */
	int last_error;			/* errno of the last failed copy */
	unsigned long last_error_chunk;
	unsigned long source_errors;	/* failed copies, by side */
	unsigned long target_errors;
	unsigned long skipped_chunks;	/* left uncopied by on_*_error ignore */
	unsigned long flags;		/* enum backup_job_flag, atomic bitops */
	/*
	 * The instance that acts on the job, for the views that hold it:
	 * read under backup_job_srcu (backup_job_live_lock()), written under
	 * backup_jobs_lock (dm-backup-handover.c).  NULL while the job changes
	 * hands, and for good once @gone: its last table went without a
	 * reload that took it.  Views wait on @live_wait for either.
	 */
	struct backup_c __rcu *live;
	bool gone;
	wait_queue_head_t live_wait;

	/* Identity: random at creation, or the metadata's. */
	u8 uuid[16];
	/* The point in time (CLOCK_REALTIME ns), 0 until the first resume. */
	u64 pit_ns;
	/*
	 * A persistent job's metadata (dm-backup-metadata.c), NULL for a
	 * volatile job.  Copies whose data is written wait on
	 * @commit_copies (under @lock) for @commit_work, which makes their
	 * data durable and commits their bits, then ends them: a write to
	 * their chunks waits until then.  @commit_wq is ordered, so one
	 * commit runs at a time and the copies that arrive meanwhile share
	 * the next one (group commit).  A copy may wait for a later commit
	 * (backup_job_commit_delay_locked()): then @commit_timer (on
	 * system_wq) queues @commit_work when its time is up.  Of the
	 * copies on @commit_copies, @walk_deferred (under @lock) are the
	 * walk's that wait so; a write that waits for one of them commits
	 * at once.
	 */
	struct backup_meta *meta;
	struct list_head commit_copies;
	unsigned int walk_deferred;
	struct workqueue_struct *commit_wq;
	struct work_struct commit_work;
	struct delayed_work commit_timer;
	/*
	 * The state the superblock holds and when it was last written:
	 * commits write it only for a new state, or a second later for the
	 * counters.  Commit work only.
	 */
	enum backup_state super_state;
	unsigned long super_written;
	/*
	 * The job ended and the metadata says so (or never will: volatile,
	 * or a stalled or failed device): writes to uncopied chunks go to
	 * the origin only from then on.  Written under @lock, read locklessly
	 * by map().  @end_bc: the instance whose writes the end releases once
	 * committed, with a reference; under @lock.
	 */
	bool end_committed;
	struct backup_c *end_bc;
	/* A commit failed: nothing is written to the metadata any more. */
	bool meta_broken;

	/*
	 * Change tracking (table option "track", a persistent job): a bit
	 * of @changed per chunk whose mark is committed: writes to it go on
	 * at once (map() tests it without the lock; bits are set with
	 * set_bit() under @lock).  A write to another chunk waits on
	 * @mark_bios, under @lock like the rest here, for the commit that
	 * records its chunks: each carries the number of its mark
	 * (backup_bio_info.mark, @marks_requested the last one given), and
	 * a commit releases the writes up to the number it saw when it
	 * began.  @mark_bc: the instance whose writes wait, with a
	 * reference while any does; @mark_stall_work (system_wq: the commit
	 * may hang in commit_wq) ends waits longer than cbw_timeout.
	 * @track_lost: a mark could not be committed and its write went on
	 * (or failed): the record misses writes from then on.
	 */
	bool track;
	bool track_lost;
	unsigned long *changed;
	unsigned long nr_changed;
	struct bio_list mark_bios;
	unsigned long mark_since;
	u64 marks_requested;
	struct backup_c *mark_bc;
	struct delayed_work mark_stall_work;
	/* What the superblock holds of @track_lost (commit work only). */
	bool super_track_lost;
	/*
	 * An increment took the metadata device over from this job (whose
	 * table is suspended and goes): nothing is written to it any more.
	 * @retired_work, queued behind the commits on commit_wq, completes
	 * @retired: every commit queued before it has ended.
	 */
	bool meta_retired;
	struct work_struct retired_work;
	struct completion retired;

	/*
	 * The end of a persistent job (backup_job_release()): on
	 * backup_jobs_ending by @ending_entry, with its metadata device's
	 * number @meta_dev, until @end_work has drained commit_wq and freed
	 * it.  @end_late: a put gave up waiting for that (under the lock of
	 * backup_jobs_ending).
	 */
	struct work_struct end_work;
	struct list_head ending_entry;
	dev_t meta_dev;
	bool end_late;
};

/* Bits of backup_c->flags. */
enum backup_flag {
	BACKUP_SUSPENDED,	/* between presuspend and resume: no new walk copies */
	BACKUP_DYING,		/* in the destructor: the worker must not be queued */
	BACKUP_STARVED,		/* the worker found no copy free: kick it at the next */
	BACKUP_RESUMED,		/* resumed once: the job has a point in time */
	BACKUP_FLUSHING,	/* the completion flush is in flight */
};

struct backup_copy;
struct backup_range;
struct backup_meta;

/* What the job makes of a copy that ended (struct backup_engine_ops). */
enum backup_copy_verdict {
	BACKUP_COPY_RELEASE,	  /* its writes go on (or are looked at again) */
	BACKUP_COPY_JOB_DONE,	  /* the same, and the job is done: run the worker */
	BACKUP_COPY_FAIL_WRITES,  /* its writes fail with the copy's error */
	BACKUP_COPY_RETRY,	  /* the walk copies its chunks one by one */
};

/*
 * The copy engine's reports to the layers above it, installed by the
 * target when it builds an instance: the engine names no function of a
 * layer above it, as dm-kcopyd names none of its users (notify_fn) and the
 * block layer none of a bio's owner (bi_end_io).
 */
struct backup_engine_ops {
	/*
	 * A copy ended with @err, 0 when its chunks are on the backup device:
	 * count it, judge a failure by the error policies.  Caller holds
	 * job->lock; *@spare is a range the judgement may keep.
	 */
	enum backup_copy_verdict (*copy_ended_locked)(struct backup_copy *copy,
						      int err,
						      struct backup_range **spare);
	/*
	 * A write waited more than cbw_timeout for the copy of @chunk: true
	 * if the job broke (every waiting write goes on), false if the
	 * writes that waited too long are to fail.  Caller holds job->lock.
	 */
	bool (*write_stalled_locked)(struct backup_c *bc, unsigned long chunk);
	/*
	 * A copy's data is written to the backup device: true if the owner
	 * takes the copy (a persistent job commits it, then hands it back
	 * with backup_copy_committed()), false to end it now.
	 */
	bool (*copy_written)(struct backup_copy *copy);
	/*
	 * A write waits for a copy in flight: a commit the owner put off
	 * (see copy_written) runs now.  Caller holds job->lock.
	 */
	void (*copy_awaited_locked)(struct backup_c *bc);
	/* The last reference to the instance went: see backup_put(). */
	void (*release)(struct kref *ref);
};

/* Per-bio data of the backup target, for the writes it may hold. */
struct backup_bio_info {
	unsigned long arrival;	/* jiffies when map() first saw the write */
	u64 mark;		/* a tracking job's mark it waits for */
};

struct backup_c {
	/*
	 * One reference for the table instance, one for each copy alive
	 * (backup_copy_alloc() to backup_copy_free()).  A copy whose backup
	 * write hangs may outlive the table: the last reference frees what
	 * its completion needs (pools, bio set, workqueues), see backup_put().
	 */
	struct kref ref;
	struct work_struct free_work;	/* backup_put() from copy_wq */
	const struct backup_engine_ops *ops;	/* the owner's, see there */
	/* "dm-N", for log lines that may come after the table is gone. */
	char name[16];
	/* Not for copies: they may outlive the table (use @len, @name). */
	struct dm_target *ti;
	struct mapped_device *md;
	struct list_head jobs_entry;	/* on backup_jobs, dm-backup-handover.c */
	/*
	 * Acts on the job (the device's live table, resumed once): written
	 * under backup_jobs_lock, read with READ_ONCE() by the worker.
	 */
	bool live;
	/* A reloaded table took the job over (under backup_jobs_lock). */
	bool handed_over;
	struct dm_dev *origin;
	struct dm_dev *backup;
	/*
	 * The same devices, for copies.  The table's struct dm_dev goes with
	 * the table, but a copy whose backup write hangs may outlive it and
	 * still submit I/O: each holds a reference to its block device
	 * (get_device(), as blkdev_get_no_open() does), dropped with the last
	 * reference to the instance.  I/O to a device removed meanwhile fails
	 * cleanly.
	 */
	struct block_device *origin_bdev;
	struct block_device *backup_bdev;
	sector_t len;			/* of the target, for copies */
	/*
	 * Top: which chunks to copy.  The constructor reads it and puts it
	 * again: a later target of the table that opens the same device
	 * with a wider mode makes dm reopen it and free this struct dm_dev.
	 * @map_dev (0 if none) is what status and reloads compare.
	 */
	struct dm_dev *map;
	dev_t map_dev;
	/*
	 * A persistent job's metadata device (the job keeps the block
	 * device); @meta_dev is what status and reloads compare.
	 */
	struct dm_dev *meta;
	dev_t meta_dev;
	bool track;			/* table option "track on" */
	/* Table option "increment <uuid>": of this tracking job. */
	bool increment;
	u8 parent[16];
	dev_t dev;			/* of the dm device, for trace events */

	enum backup_sync_mode sync_mode;
	enum backup_error_policy on_source_error;
	enum backup_error_policy on_target_error;
	enum backup_cbw_policy on_cbw_error;
	sector_t chunk_sectors;
	unsigned int chunk_shift;
	unsigned long nr_chunks;

	/* Background copy rate limit in bytes/s, 0 = unlimited. */
	u64 speed;
	/* Longest wait of a write for its copy in ms, 0 = no limit. */
	unsigned int cbw_timeout;

	/* The job, shared with a reloaded instance: see struct backup_job. */
	struct backup_job *job;

	/*
	 * Copies in flight, keyed by chunk range (ranges never overlap).  A
	 * write to a chunk under one waits on that copy's waiter list.
	 * Under job->lock, as the rest of the in-flight state below.
	 */
	struct rb_root inflight;

	/* Writes whose copy map() could not allocate; the worker retries. */
	struct bio_list deferred_bios;
	/* Arrival of the oldest of @deferred_bios (jiffies). */
	unsigned long deferred_since;

	/*
	 * Copies created without memory for their buffers yet; the worker
	 * allocates (and may sleep for) the pages.
	 */
	struct list_head pending_copies;

	unsigned long flags;

	/*
	 * Copies and view holds created so far: the job's completion looks
	 * whether one started during its flush.
	 */
	unsigned long copies_started;
	/*
	 * The completion flush (dm-backup-walk.c), on @copy_wq: the value of
	 * @copies_started when it was sent, under job->lock, and its result.
	 */
	unsigned long flush_copies_started;
	blk_status_t flush_status;
	struct work_struct flush_submit_work;
	struct work_struct flush_done_work;

	/* Copies alive and buffer pages held; see BACKUP_MAX_*. */
	atomic_t nr_copies;
	/* Of @nr_copies, the holds of view reads (short: origin reads). */
	atomic_t nr_holds;
	atomic_t nr_pages;
	atomic_t walk_pages;
	/*
	 * Woken whenever a copy ends.  Waiters: the worker waiting for a
	 * copy or pages to become free, postsuspend and the destructor
	 * waiting for copies to drain.
	 */
	wait_queue_head_t copy_done_wait;

	/* Throttle: bytes copied in the current slice, and its end. */
	atomic64_t slice_bytes;
	u64 slice_end_ns;		/* worker only */

	/*
	 * @wq runs the single worker: deferred writes, page allocation for
	 * pending copies, the walk and dm events.  @copy_wq runs copy
	 * completions (zero detection, backup writes, finishing).  They are
	 * apart so that a worker sleeping for memory never blocks the
	 * completions that free it.
	 */
	struct workqueue_struct *wq;
	struct delayed_work worker;
	struct workqueue_struct *copy_wq;
	/*
	 * On @copy_wq, so that neither depends on the worker, which may
	 * sleep for memory that stalled copies hold: @stall_work ends the
	 * waits of writes older than @cbw_timeout, @end_work lets every
	 * waiting write go when the job ends.
	 */
	struct delayed_work stall_work;
	struct work_struct end_work;

	mempool_t copy_pool;
	mempool_t hold_pool;
	mempool_t page_pool;
	/*
	 * Free buffer pages kept for the next copies, and whether the worker
	 * sleeps in the page pool (then ended copies give their pages to
	 * the pool, which wakes it, not to the cache); under @page_lock,
	 * which like job->lock is taken from process context only.
	 */
	spinlock_t page_lock;
	struct list_head page_cache;
	unsigned int nr_cached_pages;
	bool pages_waited;
	struct bio_set bs;
};

/*
 * A range of chunks in flight, in bc->inflight: a copy (struct
 * backup_copy) or a view's hold (struct backup_hold, a view reads the
 * origin there).  Writes to it wait until it is gone, view reads of a copy
 * until its data is on the backup device.  Under job->lock.
 */
struct backup_cell {
	struct rb_node node;
	unsigned long chunk;		/* first chunk */
	unsigned int nr_chunks;
	bool hold;			/* a struct backup_hold, not a copy */
	/*
	 * The origin's data is in the copy's buffer and no failure can make
	 * it read the origin again: writes to these chunks need not wait
	 * for the backup write.  Never set on a hold.
	 */
	bool saved;
	struct bio_list waiters;	/* writes waiting for the cell */
	unsigned long wait_since;	/* arrival of the oldest waiter */
	struct list_head view_waiters;	/* struct backup_waiter: view reads */
};

/*
 * A reader waiting for a cell to go (a backup-view read of a chunk being
 * copied or held): when the cell goes, @work is queued on the instance's
 * copy_wq and the reader's own code routes the read again, so the copy
 * engine calls nothing of the view.
 */
struct backup_waiter {
	struct list_head list;		/* on backup_cell.view_waiters */
	struct work_struct work;
};

/* A copy of a range of chunks, origin -> backup. */
struct backup_copy {
	struct backup_cell cell;
	struct backup_c *bc;
	struct list_head list;		/* on bc->pending_copies */
	bool for_walk;
	bool retry_data_write;		/* WRITE_ZEROES failed: write the data */
	/*
	 * Every backup write of the copy went with REQ_FUA: its data is
	 * durable when it ends, and a commit needs no flush for it.  A
	 * persistent job's copy-before-write, unless it wrote zeroes.
	 */
	bool fua;
	unsigned int nr_zero;		/* chunks written as WRITE_ZEROES */
	atomic_t pending_writes;
	blk_status_t status;
	bool read_failed;
	struct work_struct work;
	unsigned int nr_pages;
	struct page *pages[BACKUP_COPY_MAX_PAGES];
};

/*
 * A view read of a chunk not copied yet goes to the origin under a hold:
 * writes to the chunk wait until the read is done.  A hold holds a
 * reference to @bc, as a copy does.
 */
struct backup_hold {
	struct backup_cell cell;
	struct backup_c *bc;
	struct work_struct work;	/* hold_finish_work(), on copy_wq */
};

/* Chunks the walk looks at again: see backup_c->revisit. */
struct backup_range {
	struct list_head list;
	unsigned long start;
	unsigned long end;
};

/*
 * Primitives of the instance that every layer uses, inline so that no file
 * calls up into another for them.
 */

/* Running or paused: the job has not ended. */
static inline bool backup_job_active(enum backup_state state)
{
	return state == BACKUP_RUNNING || state == BACKUP_PAUSED;
}

/*
 * Do writes to uncopied chunks still wait for copy-before-write (or, for
 * a persistent job that ended, for the metadata to say so)?
 */
static inline bool backup_job_guards_writes(struct backup_job *job)
{
	return backup_job_active(READ_ONCE(job->state)) ||
	       !READ_ONCE(job->end_committed);
}

/*
 * Run the worker (deferred writes, pending copies, the walk, completion,
 * dm events) now, unless the instance is being destroyed.
 */
static inline void backup_kick(struct backup_c *bc)
{
	if (!test_bit(BACKUP_DYING, &bc->flags))
		mod_delayed_work(bc->wq, &bc->worker, 0);
}

/*
 * Every copy counts against the walk's throttle budget when it reads the
 * origin, but only the walk waits for it (dm-backup-walk.c).
 */
static inline void backup_throttle_account(struct backup_c *bc,
					   unsigned int bytes)
{
	if (READ_ONCE(bc->speed))
		atomic64_add(bytes, &bc->slice_bytes);
}

/* dm-backup-chunks.c: chunk geometry, copied bitmap, in-flight ranges */
unsigned long *backup_bitmap_alloc(unsigned long nr_chunks);
void backup_job_chunks_free(struct backup_job *job);
void backup_job_load_copied(struct backup_job *job, const unsigned long *bits,
			    unsigned long nr_unmapped);
const unsigned long *backup_job_copied_bits(struct backup_job *job);
void backup_mark_copied_locked(struct backup_c *bc, unsigned long chunk,
			       unsigned int nr);
bool backup_chunk_copied(struct backup_c *bc, unsigned long chunk);
struct backup_range *backup_range_alloc(void);
bool backup_revisit_add_locked(struct backup_c *bc, unsigned long start,
			       unsigned long end, struct backup_range **spare);
unsigned long backup_revisit_next_locked(struct backup_c *bc);
bool backup_revisit_empty_locked(struct backup_c *bc);
void backup_cell_revisit_locked(struct backup_c *bc, struct backup_cell *cell,
				struct backup_range **spare);
sector_t backup_chunk_to_sector(struct backup_c *bc, unsigned long chunk);
unsigned int backup_range_sectors(struct backup_c *bc, unsigned long chunk,
				  unsigned int nr_chunks);
void backup_bio_chunks(struct backup_c *bc, struct bio *bio,
		       unsigned long *first, unsigned long *last);
bool backup_chunks_copied(struct backup_c *bc, unsigned long first,
			  unsigned long last);
struct backup_cell *backup_inflight_find(struct backup_c *bc,
					 unsigned long chunk,
					 unsigned long *next_start);
void backup_inflight_insert(struct backup_c *bc, struct backup_cell *cell,
			    unsigned long chunk, unsigned long end, bool hold);
void backup_inflight_erase(struct backup_c *bc, struct backup_cell *cell);
unsigned long backup_next_uncopied(struct backup_c *bc, unsigned long chunk,
				   unsigned long end);
unsigned long backup_run_end(struct backup_c *bc, unsigned long chunk,
			     unsigned long limit, unsigned long next_inflight);

int backup_read_map(struct backup_c *bc, char **error);

/* dm-backup-copy.c: the copy engine and copy-before-write */
struct backup_copy *backup_copy_alloc(struct backup_c *bc, gfp_t gfp);
struct backup_copy *backup_worker_copy_alloc(struct backup_c *bc);
void backup_copy_free(struct backup_copy *copy);
void backup_copy_init_locked(struct backup_copy *copy, unsigned long chunk,
			     unsigned long end, bool for_walk);
bool backup_copy_start_nowait(struct backup_copy *copy);
void backup_drain_page_cache(struct backup_c *bc);
int backup_copy_pools_init(struct backup_c *bc);
void backup_copy_pools_exit(struct backup_c *bc);
int backup_copy_module_init(void);
void backup_copy_module_exit(void);
void backup_copy_start_wait(struct backup_copy *copy);
bool backup_cow_bio(struct backup_c *bc, struct bio *bio,
		    struct backup_copy **spare);
void backup_remap_to_origin(struct backup_c *bc, struct bio *bio);
void backup_resubmit(struct backup_c *bc, struct bio_list *bios);
void backup_copy_engine_init(struct backup_c *bc);
void backup_bio_arrived(struct bio *bio);
void backup_park_write_locked(struct backup_c *bc, struct bio_list *list,
			      unsigned long *since, struct bio *bio);
void backup_stall_watchdog_rearm(struct backup_c *bc);
void backup_job_ended_locked(struct backup_c *bc);
void backup_copy_committed(struct backup_copy *copy, int err);
bool backup_cbw_copies_busy(struct backup_c *bc);
void backup_put(struct backup_c *bc);

/* dm-backup-job.c: the job object and its state machine */
struct backup_job *backup_job_create(unsigned long nr_chunks);
struct backup_job *backup_job_get(struct backup_job *job);
void backup_job_put(struct backup_job *job);
const char *backup_state_name(enum backup_state state);
const char *backup_sync_mode_name(enum backup_sync_mode mode);
void backup_set_state_locked(struct backup_c *bc, enum backup_state state);
bool backup_job_done_locked(struct backup_c *bc);
enum backup_copy_verdict
backup_job_copy_ended_locked(struct backup_copy *copy, int err,
			     struct backup_range **spare);
bool backup_job_write_stalled_locked(struct backup_c *bc, unsigned long chunk);
void backup_job_break_locked(struct backup_c *bc, int err, unsigned long chunk);
bool backup_job_copy_written(struct backup_copy *copy);
void backup_job_copy_awaited_locked(struct backup_c *bc);
void backup_job_commit_deferred(struct backup_job *job);
bool backup_job_mark_write(struct backup_c *bc, struct bio *bio);
int backup_job_open_meta(struct backup_c *bc, char **error);
int backup_job_retire_meta(struct backup_job *job, unsigned int ms);
bool backup_job_meta_dev_free(dev_t dev, unsigned int ms);
int backup_job_module_init(void);
void backup_job_module_exit(void);
bool backup_job_persisted(struct backup_job *job);
int backup_job_start(struct backup_c *bc);
struct backup_c *backup_job_live_lock(struct backup_job *job, int *idx)
	__acquires(backup_job_srcu);
void backup_job_live_unlock(int idx) __releases(backup_job_srcu);
bool backup_job_wait_live(struct backup_job *job);
bool backup_job_gone(struct backup_job *job);
void backup_job_set_live(struct backup_job *job, struct backup_c *bc);
void backup_job_leave(struct backup_job *job, struct backup_c *bc);
int backup_pause(struct backup_c *bc);
int backup_resume_job(struct backup_c *bc);
int backup_cancel(struct backup_c *bc);

/* dm-backup-walk.c: the worker, the walk, the throttle, completion */
void backup_walk_init(struct backup_c *bc);
void backup_set_speed(struct backup_c *bc, u64 speed);
int backup_parse_speed(const char *arg, u64 *speed, char **error);
int backup_parse_cbw_timeout(const char *arg, unsigned int *ms, char **error);

struct backup_hold *backup_hold_alloc(struct backup_c *bc, gfp_t gfp);
void backup_hold_free(struct backup_hold *hold);
void backup_hold_init_locked(struct backup_hold *hold, unsigned long chunk);
void backup_hold_release(struct backup_hold *hold);

/* dm-backup-view.c: the backup-view target */
int backup_view_register(void);
void backup_view_unregister(void);

/* dm-backup-handover.c: job registry, handover on table reload */
int backup_register_job(struct backup_c *bc, char **error);
void backup_unregister_job(struct backup_c *bc);
int backup_take_over(struct backup_c *bc);
struct backup_c *backup_find_live_job(dev_t dev);
struct backup_c *backup_find_live_job_by_devices(struct block_device *origin,
						 struct block_device *backup);
void backup_jobs_lock_acquire(void);
void backup_jobs_lock_release(void);

/* dm-backup-sysfs.c: /sys/block/dm-N/backup/ */
void backup_sysfs_attach(struct backup_c *bc);
void backup_sysfs_detach(struct backup_c *bc);

#endif /* DM_BACKUP_H */
