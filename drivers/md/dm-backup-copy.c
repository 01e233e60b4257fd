// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup copy engine and copy-before-write.
 *
 * A copy moves a run of chunks from the origin to the same offset on the
 * backup device: one read into pages, then one write per run of non-zero
 * chunks and one WRITE_ZEROES per run of zero chunks.  Many copies are in
 * flight at once, bounded by BACKUP_MAX_COPIES and BACKUP_MAX_PAGES.
 *
 * Life of a copy:
 *   created under bc->job->lock and put in bc->inflight (writes now wait on it)
 *   -> pages and read bio allocated, read submitted (from map() without
 *      sleeping when memory is at hand, otherwise by the worker)
 *   -> copy_read_endio -> copy_write (copy_wq): a copy-before-write
 *      releases its waiting writes here (copy_release_saved), before its
 *      backup write -> copy_write_endio
 *   -> copy_finish (copy_wq): bits set, copy leaves the tree, the writes
 *      still waiting are released.
 *
 * Where a write waits for its chunk's copy: backup_cow_bio().
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/string.h>

#include "dm-backup.h"
#include "dm_backup_trace.h"

/*
 * May the worker or a view sleep for a copy's memory?  Not once the job
 * has ended or the table is going: the copies that hold the memory may
 * wait for a backup device that never answers.
 */
static bool backup_may_wait(struct backup_c *bc)
{
	return backup_job_active(READ_ONCE(bc->job->state)) &&
	       !test_bit(BACKUP_DYING, &bc->flags);
}

void backup_remap_to_origin(struct backup_c *bc, struct bio *bio)
{
	bio_set_dev(bio, bc->origin_bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = dm_target_offset(bc->ti,
							  bio->bi_iter.bi_sector);
}

/*-------------------------------------------------------------------------*/
/* Budgets: copy structures and buffer pages in flight */

static bool backup_atomic_add_below(atomic_t *v, int n, int max)
{
	int old = atomic_read(v);

	do {
		if (old + n > max)
			return false;
	} while (!atomic_try_cmpxchg(v, &old, old + n));
	return true;
}

/*
 * A place in the budget of BACKUP_MAX_COPIES copies and holds.  Without
 * sleeping it fails when the budget is exhausted; sleeping, it waits for
 * a copy to end, and fails only when the job ends meanwhile (see
 * backup_may_wait()).
 */
static bool backup_budget_get(struct backup_c *bc, gfp_t gfp)
{
	bool got = false;

	if (!gfpflags_allow_blocking(gfp))
		return backup_atomic_add_below(&bc->nr_copies, 1,
					       BACKUP_MAX_COPIES);
	wait_event(bc->copy_done_wait,
		   (got = backup_atomic_add_below(&bc->nr_copies, 1,
						  BACKUP_MAX_COPIES)) ||
		   !backup_may_wait(bc));
	return got;
}

static void backup_budget_put(struct backup_c *bc)
{
	atomic_dec(&bc->nr_copies);
	smp_mb__after_atomic();	/* pairs with backup_worker_copy_alloc() */
	if (test_and_clear_bit(BACKUP_STARVED, &bc->flags))
		backup_kick(bc);
	wake_up_all(&bc->copy_done_wait);
}

/*
 * A copy or a hold from @pool, within the budget of cells in flight.
 * GFP_NOWAIT fails when the budget or memory is exhausted; a sleeping
 * allocation waits for a copy to end, and fails only when the job ends
 * meanwhile.  The cell holds a reference to @bc until
 * backup_cell_pool_free().
 */
static void *backup_cell_pool_alloc(struct backup_c *bc, mempool_t *pool,
				    gfp_t gfp)
{
	void *p;

	if (!backup_budget_get(bc, gfp))
		return NULL;
	p = mempool_alloc(pool, gfp);
	if (!p) {
		backup_budget_put(bc);
		return NULL;
	}
	kref_get(&bc->ref);
	return p;
}

/*
 * Drop a reference to @bc.  The destructor drops the table's; a copy
 * whose backup write still hangs then keeps the rest alive, and its
 * completion, however late, frees it (the owner's release, struct
 * backup_engine_ops).
 */
void backup_put(struct backup_c *bc)
{
	kref_put(&bc->ref, bc->ops->release);
}

/* Drops the cell's reference to bc: callers that go on using bc hold one. */
static void backup_cell_pool_free(struct backup_c *bc, mempool_t *pool,
				  void *p)
{
	mempool_free(p, pool);
	backup_budget_put(bc);
	backup_put(bc);
}

struct backup_copy *backup_copy_alloc(struct backup_c *bc, gfp_t gfp)
{
	struct backup_copy *copy = backup_cell_pool_alloc(bc, &bc->copy_pool,
							  gfp);

	if (copy)
		copy->bc = bc;
	return copy;
}

void backup_copy_free(struct backup_copy *copy)
{
	backup_cell_pool_free(copy->bc, &copy->bc->copy_pool, copy);
}

/* A hold counts in @nr_holds too, from its allocation to its free. */
struct backup_hold *backup_hold_alloc(struct backup_c *bc, gfp_t gfp)
{
	struct backup_hold *hold = backup_cell_pool_alloc(bc, &bc->hold_pool,
							  gfp);

	if (hold) {
		atomic_inc(&bc->nr_holds);
		hold->bc = bc;
	}
	return hold;
}

void backup_hold_free(struct backup_hold *hold)
{
	struct backup_c *bc = hold->bc;

	atomic_dec(&bc->nr_holds);
	backup_cell_pool_free(bc, &bc->hold_pool, hold);
}

/* Hold @chunk for a view read.  Caller holds bc->job->lock. */
void backup_hold_init_locked(struct backup_hold *hold, unsigned long chunk)
{
	struct backup_c *bc = hold->bc;

	backup_inflight_insert(bc, &hold->cell, chunk, chunk + 1, true);
	bc->copies_started++;
}

/*
 * The worker must not sleep for a copy structure: copies waiting for the
 * worker to start them hold some.  It tries without sleeping and, when
 * that fails, is kicked by the next copy that ends.  With no copy alive
 * there is nobody to wait for, so it may sleep for memory.
 */
struct backup_copy *backup_worker_copy_alloc(struct backup_c *bc)
{
	struct backup_copy *copy;

	copy = backup_copy_alloc(bc, GFP_NOWAIT | __GFP_NOWARN);
	if (copy)
		return copy;
	if (!atomic_read(&bc->nr_copies))
		return backup_copy_alloc(bc, GFP_NOIO);
	set_bit(BACKUP_STARVED, &bc->flags);
	smp_mb__after_atomic();	/* pairs with backup_copy_free() */
	return backup_copy_alloc(bc, GFP_NOWAIT | __GFP_NOWARN);
}

static unsigned int copy_bytes(struct backup_copy *copy)
{
	return backup_range_sectors(copy->bc, copy->cell.chunk,
				    copy->cell.nr_chunks) << SECTOR_SHIFT;
}

/*
 * Buffer pages of ended copies wait in bc->page_cache for the next ones
 * (up to BACKUP_CACHED_PAGES) instead of going back to the allocator: a
 * busy walk then costs no page allocation per copy.
 */
static unsigned int backup_take_cached_pages(struct backup_c *bc,
					     struct page **pages,
					     unsigned int nr)
{
	unsigned int n = 0;

	spin_lock(&bc->page_lock);
	while (n < nr && !list_empty(&bc->page_cache)) {
		pages[n] = list_first_entry(&bc->page_cache, struct page, lru);
		list_del(&pages[n++]->lru);
	}
	bc->nr_cached_pages -= n;
	spin_unlock(&bc->page_lock);
	return n;
}

static void backup_cache_pages(struct backup_c *bc, struct page **pages,
			       unsigned int nr)
{
	/*
	 * The worker sleeping in mempool_alloc() is woken only by pages
	 * given back to the pool: cache none while it waits.  The flag is
	 * tested under page_lock, where copy_alloc_page() sets it before
	 * draining the cache, so no page slips into the cache behind the
	 * drain.
	 */
	spin_lock(&bc->page_lock);
	while (nr && !bc->pages_waited &&
	       bc->nr_cached_pages < BACKUP_CACHED_PAGES) {
		list_add(&pages[--nr]->lru, &bc->page_cache);
		bc->nr_cached_pages++;
	}
	spin_unlock(&bc->page_lock);
	while (nr)
		mempool_free(pages[--nr], &bc->page_pool);
}

static void backup_set_pages_waited(struct backup_c *bc, bool waited)
{
	spin_lock(&bc->page_lock);
	bc->pages_waited = waited;
	spin_unlock(&bc->page_lock);
}

/* When the job has ended and in the destructor: give the cache back. */
void backup_drain_page_cache(struct backup_c *bc)
{
	struct page *page;

	while (backup_take_cached_pages(bc, &page, 1))
		mempool_free(page, &bc->page_pool);
}

static struct kmem_cache *backup_copy_cache;
static struct kmem_cache *backup_hold_cache;

#ifdef CONFIG_FAULT_INJECTION
/*
 * debugfs fail_dm_backup_alloc (Documentation/fault-injection): copy
 * structures and buffer pages then fail to come from the allocator, so
 * copies run on the mempool reserves alone.  For tests of forward
 * progress under memory pressure; off unless configured there.
 */
static DECLARE_FAULT_ATTR(backup_fail_alloc);
static struct dentry *backup_fail_alloc_dir;

static bool backup_should_fail_alloc(void)
{
	return should_fail(&backup_fail_alloc, 1);
}

static void backup_fail_alloc_init(void)
{
	/* Best effort: without debugfs the knob is simply absent. */
	backup_fail_alloc_dir = fault_create_debugfs_attr("fail_dm_backup_alloc",
							  NULL,
							  &backup_fail_alloc);
}

static void backup_fail_alloc_exit(void)
{
	if (!IS_ERR_OR_NULL(backup_fail_alloc_dir))
		debugfs_remove_recursive(backup_fail_alloc_dir);
}
#else
static inline bool backup_should_fail_alloc(void)
{
	return false;
}

static inline void backup_fail_alloc_init(void) {}
static inline void backup_fail_alloc_exit(void) {}
#endif

static void *backup_copy_pool_alloc(gfp_t gfp, void *cache)
{
	if (backup_should_fail_alloc())
		return NULL;
	return mempool_alloc_slab(gfp, cache);
}

static void *backup_page_pool_alloc(gfp_t gfp, void *order)
{
	if (backup_should_fail_alloc())
		return NULL;
	return mempool_alloc_pages(gfp, order);
}

/*
 * The page reserve holds one copy of the largest size: what the worker
 * needs to make progress (see copy_get_pages()).
 */
int backup_copy_pools_init(struct backup_c *bc)
{
	int r;

	r = mempool_init(&bc->copy_pool, BACKUP_COPY_RESERVE,
			 backup_copy_pool_alloc, mempool_free_slab,
			 backup_copy_cache);
	if (!r)
		r = mempool_init(&bc->hold_pool, BACKUP_HOLD_RESERVE,
				 backup_copy_pool_alloc, mempool_free_slab,
				 backup_hold_cache);
	if (!r)
		r = mempool_init(&bc->page_pool, BACKUP_COPY_MAX_PAGES,
				 backup_page_pool_alloc, mempool_free_pages,
				 (void *)0);
	if (!r)
		r = bioset_init(&bc->bs, BIO_POOL_SIZE, 0, BIOSET_NEED_BVECS);
	return r;
}

void backup_copy_pools_exit(struct backup_c *bc)
{
	bioset_exit(&bc->bs);
	backup_drain_page_cache(bc);
	mempool_exit(&bc->page_pool);
	mempool_exit(&bc->hold_pool);
	mempool_exit(&bc->copy_pool);
}

int backup_copy_module_init(void)
{
	backup_copy_cache = KMEM_CACHE(backup_copy, 0);
	backup_hold_cache = KMEM_CACHE(backup_hold, 0);
	if (!backup_copy_cache || !backup_hold_cache) {
		kmem_cache_destroy(backup_hold_cache);
		kmem_cache_destroy(backup_copy_cache);
		return -ENOMEM;
	}
	backup_fail_alloc_init();
	return 0;
}

void backup_copy_module_exit(void)
{
	backup_fail_alloc_exit();
	kmem_cache_destroy(backup_hold_cache);
	kmem_cache_destroy(backup_copy_cache);
}

static void copy_release_pages(struct backup_copy *copy)
{
	struct backup_c *bc = copy->bc;

	backup_cache_pages(bc, copy->pages, copy->nr_pages);
	atomic_sub(copy->nr_pages, &bc->nr_pages);
	if (copy->for_walk)
		atomic_sub(copy->nr_pages, &bc->walk_pages);
	copy->nr_pages = 0;
}

/*
 * A page for a copy buffer.  When none is free without sleeping, say so
 * before sleeping in the mempool: ended copies then give their pages to
 * the pool (which wakes us) instead of to bc->page_cache (which would not).
 */
static struct page *copy_alloc_page(struct backup_c *bc, gfp_t gfp)
{
	struct page *page;

	if (!gfpflags_allow_blocking(gfp))
		return mempool_alloc(&bc->page_pool, gfp);
	page = mempool_alloc(&bc->page_pool, GFP_NOWAIT | __GFP_NOWARN);
	if (page)
		return page;
	backup_set_pages_waited(bc, true);
	backup_drain_page_cache(bc);
	page = mempool_alloc(&bc->page_pool, gfp);
	backup_set_pages_waited(bc, false);
	return page;
}

/*
 * Should the worker give up waiting for @copy's buffer?  When the job
 * has ended, and while the device suspends if no write waits for the
 * copy: the pages may be held by copies that wait for a backup device
 * that never answers.  Lockless: copy_abort() looks again.
 */
static bool copy_should_abort(struct backup_copy *copy)
{
	struct backup_c *bc = copy->bc;

	return !backup_may_wait(bc) ||
	       (test_bit(BACKUP_SUSPENDED, &bc->job->flags) &&
		bio_list_empty(&copy->cell.waiters));
}

/*
 * Only the worker sleeps here, one copy at a time, and every page it
 * waits for is held by a copy that needs no more memory to finish: that
 * is what makes the mempool reserve sufficient.  Fails when it sleeps and
 * copy_should_abort() says so.
 */
static bool copy_get_pages(struct backup_copy *copy, bool can_sleep)
{
	struct backup_c *bc = copy->bc;
	unsigned int nr = DIV_ROUND_UP(copy_bytes(copy), PAGE_SIZE);
	gfp_t gfp = can_sleep ? GFP_NOIO : GFP_NOWAIT | __GFP_NOWARN;
	bool got = false;

	if (can_sleep) {
		wait_event(bc->copy_done_wait,
			   (got = backup_atomic_add_below(&bc->nr_pages, nr,
							  BACKUP_MAX_PAGES)) ||
			   copy_should_abort(copy));
		if (!got)
			return false;
	} else if (!backup_atomic_add_below(&bc->nr_pages, nr,
					    BACKUP_MAX_PAGES)) {
		return false;
	}
	if (copy->for_walk)
		atomic_add(nr, &bc->walk_pages);

	copy->nr_pages = backup_take_cached_pages(bc, copy->pages, nr);
	for (; copy->nr_pages < nr; copy->nr_pages++) {
		copy->pages[copy->nr_pages] = copy_alloc_page(bc, gfp);
		if (!copy->pages[copy->nr_pages]) {
			/* copy_release_pages() returns the whole budget */
			atomic_sub(nr - copy->nr_pages, &bc->nr_pages);
			if (copy->for_walk)
				atomic_sub(nr - copy->nr_pages, &bc->walk_pages);
			copy_release_pages(copy);
			return false;
		}
	}
	return true;
}

/*
 * Do copies other than the walk's read the origin or write the backup
 * device?  Their buffers say: a copy holds its pages until its data is
 * written (copy_release_pages()).  A hint, read without a lock.
 */
bool backup_cbw_copies_busy(struct backup_c *bc)
{
	return atomic_read(&bc->nr_pages) > atomic_read(&bc->walk_pages);
}

/* Add @len bytes of the copy buffer from byte @pos to @bio. */
static void copy_add_pages(struct backup_copy *copy, struct bio *bio,
			   unsigned int pos, unsigned int len)
{
	while (len) {
		unsigned int off = offset_in_page(pos);
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - off);

		__bio_add_page(bio, copy->pages[pos >> PAGE_SHIFT], n, off);
		pos += n;
		len -= n;
	}
}

/*-------------------------------------------------------------------------*/
/* The copy: read, detect zeroes, write, finish */

static void copy_finish_work(struct work_struct *ws);
static void copy_write_work(struct work_struct *ws);

static void copy_queue(struct backup_copy *copy, work_func_t fn)
{
	INIT_WORK(&copy->work, fn);
	queue_work(copy->bc->copy_wq, &copy->work);
}

static void copy_read_endio(struct bio *bio)
{
	struct backup_copy *copy = bio->bi_private;

	if (bio->bi_status) {
		copy->status = bio->bi_status;
		copy->read_failed = true;
	}
	bio_put(bio);
	copy_queue(copy, copy->status ? copy_finish_work : copy_write_work);
}

static struct bio *copy_alloc_read(struct backup_copy *copy, gfp_t gfp)
{
	struct backup_c *bc = copy->bc;
	struct bio *bio;

	bio = bio_alloc_bioset(bc->origin_bdev, copy->nr_pages, REQ_OP_READ,
			       gfp, &bc->bs);
	if (!bio)
		return NULL;
	bio->bi_iter.bi_sector = backup_chunk_to_sector(bc, copy->cell.chunk);
	bio->bi_end_io = copy_read_endio;
	bio->bi_private = copy;
	copy_add_pages(copy, bio, 0, copy_bytes(copy));
	return bio;
}

static void copy_submit_read(struct backup_copy *copy, struct bio *bio)
{
	backup_throttle_account(copy->bc, copy_bytes(copy));
	submit_bio_noacct(bio);
}

/* Start @copy if memory is at hand right now; false if it is not. */
bool backup_copy_start_nowait(struct backup_copy *copy)
{
	struct bio *bio;

	if (!copy_get_pages(copy, false))
		return false;
	bio = copy_alloc_read(copy, GFP_NOWAIT | __GFP_NOWARN);
	if (!bio) {
		copy_release_pages(copy);
		return false;
	}
	copy_submit_read(copy, bio);
	return true;
}

static void copy_abort(struct backup_copy *copy);

/*
 * Worker only: start @copy, sleeping for memory if need be; or drop it
 * when the job ends or the device suspends meanwhile (copy_should_abort()).
 */
void backup_copy_start_wait(struct backup_copy *copy)
{
	if (!copy_get_pages(copy, true)) {
		copy_abort(copy);
		return;
	}
	copy_submit_read(copy, copy_alloc_read(copy, GFP_NOIO));
}

/* Is chunk @i of the copy (0-based) all zeroes in the buffer? */
static bool copy_chunk_is_zero(struct backup_copy *copy, unsigned int i,
			       unsigned int *bytes)
{
	struct backup_c *bc = copy->bc;
	unsigned int pos = i << (bc->chunk_shift + SECTOR_SHIFT);
	unsigned int len = backup_range_sectors(bc, copy->cell.chunk + i, 1) <<
			   SECTOR_SHIFT;

	*bytes = len;
	while (len) {
		unsigned int off = offset_in_page(pos);
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - off);

		if (memchr_inv(page_address(copy->pages[pos >> PAGE_SHIFT]) + off,
			       0, n))
			return false;
		pos += n;
		len -= n;
	}
	return true;
}

static void copy_write_done(struct backup_copy *copy)
{
	if (atomic_dec_and_test(&copy->pending_writes))
		copy_queue(copy, copy_finish_work);
}

static void copy_write_endio(struct bio *bio)
{
	struct backup_copy *copy = bio->bi_private;

	/*
	 * A failed WRITE_ZEROES, whatever the error (a disk failing WRITE
	 * SAME gives an I/O or target error, not "not supported"), is
	 * retried as a data write, as blkdev_issue_zeroout() does: only a
	 * failed retry fails the copy.
	 */
	if (bio->bi_status && bio_op(bio) == REQ_OP_WRITE_ZEROES)
		copy->retry_data_write = true;
	else if (bio->bi_status)
		copy->status = bio->bi_status;
	bio_put(bio);
	copy_write_done(copy);
}

/* Write bytes [@pos, @pos + @len) of the buffer, or zeroes there. */
static void copy_submit_write(struct backup_copy *copy, unsigned int pos,
			      unsigned int len, bool zeroes)
{
	struct backup_c *bc = copy->bc;
	struct bio *bio;

	if (zeroes) {
		bio = bio_alloc_bioset(bc->backup_bdev, 0, REQ_OP_WRITE_ZEROES,
				       GFP_NOIO, &bc->bs);
		bio->bi_iter.bi_size = len;
	} else {
		bio = bio_alloc_bioset(bc->backup_bdev,
				       DIV_ROUND_UP(offset_in_page(pos) + len,
						    PAGE_SIZE),
				       REQ_OP_WRITE, GFP_NOIO, &bc->bs);
		copy_add_pages(copy, bio, pos, len);
	}
	bio->bi_iter.bi_sector = backup_chunk_to_sector(bc, copy->cell.chunk) +
				 (pos >> SECTOR_SHIFT);
	/* WRITE_ZEROES takes no FUA: the commit flushes such a copy. */
	if (zeroes)
		copy->fua = false;
	else if (copy->fua)
		bio->bi_opf |= REQ_FUA;
	bio->bi_end_io = copy_write_endio;
	bio->bi_private = copy;
	atomic_inc(&copy->pending_writes);
	submit_bio_noacct(bio);
}

static bool backup_can_write_zeroes(struct backup_c *bc)
{
	return !test_bit(BACKUP_NO_WRITE_ZEROES, &bc->job->flags) &&
	       bdev_write_zeroes_sectors(bc->backup_bdev);
}

/*
 * Once a copy-before-write has read the origin, the writes waiting for it
 * may go: the old data is safe in the buffer, and whatever happens to the
 * backup write, these chunks are never read from the origin again (a
 * failure breaks the backup under on_cbw_error break_backup).  The write
 * then waits for one read instead of a read and a write, which is what
 * makes a first write cheaper than dm-snapshot's.  Not for walk copies
 * (a failed walk copy is retried from the origin), for fail_write (the
 * writes must fail with the backup write) or before a WRITE_ZEROES retry.
 */
static bool copy_may_release_early(struct backup_copy *copy)
{
	return !copy->for_walk && !copy->cell.saved &&
	       copy->bc->on_cbw_error == BACKUP_CBW_BREAK_BACKUP &&
	       !copy->bc->job->meta;
}

static void copy_release_saved(struct backup_copy *copy)
{
	struct backup_c *bc = copy->bc;
	struct bio_list waiters = BIO_EMPTY_LIST;

	spin_lock(&bc->job->lock);
	copy->cell.saved = true;
	bio_list_merge(&waiters, &copy->cell.waiters);
	bio_list_init(&copy->cell.waiters);
	spin_unlock(&bc->job->lock);
	backup_resubmit(bc, &waiters);
}

/*
 * Write the buffer to the backup device, merging neighbouring chunks of
 * the same kind: zero chunks become WRITE_ZEROES, as in the QEMU job.
 */
static void copy_write(struct backup_copy *copy)
{
	bool use_zeroes;
	unsigned int i, pos = 0, run_pos = 0, run_len = 0, bytes;
	bool run_zero = false;

	if (!backup_may_wait(copy->bc)) {
		/*
		 * The job has ended, or its table is going and the backup
		 * device with it: no write depends on this copy any more.
		 */
		copy_abort(copy);
		return;
	}
	use_zeroes = backup_can_write_zeroes(copy->bc);
	if (copy_may_release_early(copy))
		copy_release_saved(copy);
	/*
	 * A persistent first write waits for its copy's data to be durable:
	 * FUA makes it so without a flush of the whole backup device.  The
	 * walk's copies share one flush per commit instead.
	 */
	copy->fua = !copy->for_walk && copy->bc->job->meta;

	copy->nr_zero = 0;
	/* Held until every write is submitted, so finish cannot run early. */
	atomic_set(&copy->pending_writes, 1);
	for (i = 0; i < copy->cell.nr_chunks; i++) {
		bool zero = use_zeroes && copy_chunk_is_zero(copy, i, &bytes);

		if (!use_zeroes)
			bytes = backup_range_sectors(copy->bc, copy->cell.chunk + i, 1)
				<< SECTOR_SHIFT;
		copy->nr_zero += zero;
		if (run_len && zero != run_zero) {
			copy_submit_write(copy, run_pos, run_len, run_zero);
			run_len = 0;
		}
		if (!run_len) {
			run_pos = pos;
			run_zero = zero;
		}
		run_len += bytes;
		pos += bytes;
	}
	copy_submit_write(copy, run_pos, run_len, run_zero);
	copy_write_done(copy);
}

static void copy_write_work(struct work_struct *ws)
{
	copy_write(container_of(ws, struct backup_copy, work));
}

/* Look again at writes a copy released; send down those that may go. */
void backup_resubmit(struct backup_c *bc, struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		if (!backup_cow_bio(bc, bio, NULL))
			continue;
		trace_dm_backup_cow_return(bc->dev, bio->bi_iter.bi_sector,
					   bio_sectors(bio), 0);
		backup_remap_to_origin(bc, bio);
		submit_bio_noacct(bio);
	}
}

/* on_cbw_error fail_write: the writes fail with the copy's error. */
static void backup_fail_bios(struct backup_c *bc, struct bio_list *bios,
			     blk_status_t status)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		trace_dm_backup_cow_return(bc->dev, bio->bi_iter.bi_sector,
					   bio_sectors(bio),
					   blk_status_to_errno(status));
		bio->bi_status = status;
		bio_endio(bio);
	}
}

static void copy_trace_error(struct backup_copy *copy, int err)
{
	struct backup_c *bc = copy->bc;

	if (copy->read_failed)
		trace_dm_backup_read_fail(bc->dev, copy->cell.chunk, copy->cell.nr_chunks,
					  err);
	else
		trace_dm_backup_write_fail(bc->dev, copy->cell.chunk,
					   copy->cell.nr_chunks, err);
}

static void copy_report_error(struct backup_copy *copy, int err)
{
	struct backup_c *bc = copy->bc;

	DMERR_LIMIT("%s: copy of chunk %lu failed on %s: error %d",
		    bc->name, copy->cell.chunk,
		    copy->read_failed ? "origin read" : "backup write", err);
}

/*
 * The cell the readers on @readers waited for is gone: each reader's own
 * work routes it again, on copy_wq (struct backup_waiter).
 */
static void backup_wake_readers(struct backup_c *bc, struct list_head *readers)
{
	struct backup_waiter *w, *tmp;

	list_for_each_entry_safe(w, tmp, readers, list) {
		list_del_init(&w->list);
		queue_work(bc->copy_wq, &w->work);
	}
}

/* The copy is over, for good or bad: publish it and release its writes. */
static void copy_finish(struct backup_copy *copy)
{
	struct backup_c *bc = copy->bc;
	struct bio_list waiters = BIO_EMPTY_LIST;
	LIST_HEAD(readers);
	int err = blk_status_to_errno(copy->status);
	enum backup_copy_verdict verdict;
	blk_status_t status = copy->status;
	struct backup_range *spare = err ? backup_range_alloc() : NULL;
	bool kick;

	kref_get(&bc->ref);	/* past backup_copy_free() below */
	spin_lock(&bc->job->lock);
	backup_inflight_erase(bc, &copy->cell);
	/* The job counts the copy, judges a failure, sees if it is done. */
	verdict = bc->ops->copy_ended_locked(copy, err, &spare);
	bio_list_merge(&waiters, &copy->cell.waiters);
	list_splice_init(&copy->cell.view_waiters, &readers);
	kick = copy->for_walk || err || verdict == BACKUP_COPY_JOB_DONE;
	spin_unlock(&bc->job->lock);
	kfree(spare);

	if (err) {
		copy_trace_error(copy, err);
		if (verdict != BACKUP_COPY_RETRY)
			copy_report_error(copy, err);
	} else {
		trace_dm_backup_copy_done(bc->dev, copy->cell.chunk, copy->cell.nr_chunks);
	}
	copy_release_pages(copy);
	/*
	 * Free the copy before its bios go on: a view read may wait for a
	 * reload that waits for this copy.  bc stays: its destructor flushes
	 * copy_wq, which runs this.
	 */
	backup_copy_free(copy);
	if (verdict == BACKUP_COPY_FAIL_WRITES)
		backup_fail_bios(bc, &waiters, status);
	else
		backup_resubmit(bc, &waiters);
	backup_wake_readers(bc, &readers);
	if (kick)
		backup_kick(bc);
	backup_put(bc);
}

/*
 * Drop a copy that was not started, or whose read came back after the job
 * ended: no bit is set, nothing is counted.  The writes still waiting on
 * it are looked at again (they pass once the job has ended); a walk copy
 * sends the walk back to its chunks.
 */
static void copy_abort(struct backup_copy *copy)
{
	struct backup_c *bc = copy->bc;
	struct bio_list waiters = BIO_EMPTY_LIST;
	LIST_HEAD(readers);
	struct backup_range *spare = copy->for_walk ? backup_range_alloc() : NULL;

	kref_get(&bc->ref);	/* past backup_copy_free() below */
	spin_lock(&bc->job->lock);
	backup_inflight_erase(bc, &copy->cell);
	if (copy->for_walk)
		backup_cell_revisit_locked(bc, &copy->cell, &spare);
	bio_list_merge(&waiters, &copy->cell.waiters);
	list_splice_init(&copy->cell.view_waiters, &readers);
	spin_unlock(&bc->job->lock);
	kfree(spare);

	trace_dm_backup_copy_abort(bc->dev, copy->cell.chunk, copy->cell.nr_chunks);
	copy_release_pages(copy);
	backup_copy_free(copy);
	backup_resubmit(bc, &waiters);
	backup_wake_readers(bc, &readers);
	backup_put(bc);
}

/*
 * A view read of an uncopied chunk finished on the origin: the hold that
 * kept writes off the chunk goes, and the writes and reads parked on it
 * go on.  The walk may have passed the chunk meanwhile: send it back.
 */
static void hold_finish_work(struct work_struct *ws)
{
	struct backup_hold *hold = container_of(ws, struct backup_hold, work);
	struct backup_c *bc = hold->bc;
	struct bio_list waiters = BIO_EMPTY_LIST;
	LIST_HEAD(readers);
	struct backup_range *spare = backup_range_alloc();

	kref_get(&bc->ref);	/* past backup_hold_free() below */
	spin_lock(&bc->job->lock);
	backup_inflight_erase(bc, &hold->cell);
	backup_cell_revisit_locked(bc, &hold->cell, &spare);
	bio_list_merge(&waiters, &hold->cell.waiters);
	list_splice_init(&hold->cell.view_waiters, &readers);
	spin_unlock(&bc->job->lock);
	kfree(spare);

	backup_hold_free(hold);
	backup_resubmit(bc, &waiters);
	backup_wake_readers(bc, &readers);
	backup_kick(bc);
	backup_put(bc);
}

/* From bio completion: the origin read under @hold is done. */
void backup_hold_release(struct backup_hold *hold)
{
	INIT_WORK(&hold->work, hold_finish_work);
	queue_work(hold->bc->copy_wq, &hold->work);
}

static void copy_finish_work(struct work_struct *ws)
{
	struct backup_copy *copy = container_of(ws, struct backup_copy, work);

	if (copy->retry_data_write && !copy->status) {
		/*
		 * The device advertised WRITE_ZEROES but failed it: write
		 * zero chunks as data from now on, starting with these.
		 */
		set_bit(BACKUP_NO_WRITE_ZEROES, &copy->bc->job->flags);
		copy->retry_data_write = false;
		copy_write(copy);
		return;
	}
	if (!copy->status) {
		/* Its buffer is not needed again, whatever the owner does. */
		copy_release_pages(copy);
		/*
		 * A walk that stopped at its share of pages may go on now,
		 * while the owner (a persistent job) commits this copy.
		 */
		if (copy->for_walk)
			backup_kick(copy->bc);
		if (copy->bc->ops->copy_written(copy))
			return;
	}
	copy_finish(copy);
}

/*
 * A copy the owner took in copy_written() is committed (@err 0) or could
 * not be: it ends now.
 */
void backup_copy_committed(struct backup_copy *copy, int err)
{
	if (err)
		copy->status = errno_to_blk_status(err);
	copy_finish(copy);
}

/*-------------------------------------------------------------------------*/
/* How long writes wait: the stall watchdog and the end of the job */

static unsigned long backup_bio_arrival(struct bio *bio)
{
	struct backup_bio_info *info = dm_per_bio_data(bio, sizeof(*info));

	return info->arrival;
}

/* map(): the clock of a write's wait starts when it first arrives. */
void backup_bio_arrived(struct bio *bio)
{
	struct backup_bio_info *info = dm_per_bio_data(bio, sizeof(*info));

	info->arrival = jiffies;
}

static void backup_arm_stall_watchdog_locked(struct backup_c *bc)
{
	unsigned int ms = READ_ONCE(bc->cbw_timeout);

	lockdep_assert_held(&bc->job->lock);
	/* Already armed: it fires at the earliest deadline or before. */
	if (ms && !test_bit(BACKUP_DYING, &bc->flags))
		queue_delayed_work(bc->copy_wq, &bc->stall_work,
				   msecs_to_jiffies(ms));
}

/*
 * Park @bio on @list (a copy's waiters or the deferred writes); *@since
 * keeps the arrival of the oldest write on the list.
 */
void backup_park_write_locked(struct backup_c *bc, struct bio_list *list,
			      unsigned long *since, struct bio *bio)
{
	unsigned long arrival = backup_bio_arrival(bio);

	lockdep_assert_held(&bc->job->lock);
	if (bio_list_empty(list) || time_before(arrival, *since))
		*since = arrival;
	bio_list_add(list, bio);
	backup_arm_stall_watchdog_locked(bc);
}

/* cbw_timeout changed: look at the waiting writes again now. */
void backup_stall_watchdog_rearm(struct backup_c *bc)
{
	if (!test_bit(BACKUP_DYING, &bc->flags))
		mod_delayed_work(bc->copy_wq, &bc->stall_work, 0);
}

/* What the watchdog found, collected under bc->job->lock. */
struct backup_stall {
	unsigned long timeout;		/* jiffies */
	unsigned long now;
	unsigned long next;		/* earliest deadline still ahead */
	bool have_next;
	bool expired;
	unsigned long chunk;		/* of the oldest expired wait */
	struct bio_list fail;		/* fail_write: writes to fail */
};

static void backup_stall_next_deadline(struct backup_stall *st,
				       unsigned long deadline)
{
	if (!st->have_next || time_before(deadline, st->next))
		st->next = deadline;
	st->have_next = true;
}

/*
 * fail_write: move the writes of @list that waited the timeout to
 * st->fail; the others stay, *@since becomes the oldest of them.
 */
static void backup_stall_split_locked(struct backup_stall *st,
				      struct bio_list *list,
				      unsigned long *since)
{
	struct bio_list keep = BIO_EMPTY_LIST;
	unsigned long arrival;
	struct bio *bio;

	while ((bio = bio_list_pop(list))) {
		arrival = backup_bio_arrival(bio);
		if (!time_before(st->now, arrival + st->timeout)) {
			bio_list_add(&st->fail, bio);
			continue;
		}
		if (bio_list_empty(&keep) || time_before(arrival, *since))
			*since = arrival;
		bio_list_add(&keep, bio);
	}
	*list = keep;
	if (!bio_list_empty(list))
		backup_stall_next_deadline(st, *since + st->timeout);
}

/*
 * One list of waiting writes whose oldest arrived at *@since: past the
 * timeout, the writes that waited that long fail (fail_write) or the
 * backup breaks; otherwise its deadline may be the next one.
 */
static void backup_stall_check_locked(struct backup_c *bc,
				      struct backup_stall *st,
				      struct bio_list *list,
				      unsigned long *since, unsigned long chunk)
{
	unsigned long deadline = *since + st->timeout;

	lockdep_assert_held(&bc->job->lock);
	if (bio_list_empty(list))
		return;
	if (time_before(st->now, deadline)) {
		backup_stall_next_deadline(st, deadline);
		return;
	}
	if (!st->expired)
		st->chunk = chunk;
	st->expired = true;
	if (bc->on_cbw_error == BACKUP_CBW_FAIL_WRITE)
		backup_stall_split_locked(st, list, since);
}

static void backup_stall_scan_locked(struct backup_c *bc,
				     struct backup_stall *st)
{
	struct backup_cell *cell;
	struct rb_node *n;

	lockdep_assert_held(&bc->job->lock);
	for (n = rb_first(&bc->inflight); n; n = rb_next(n)) {
		cell = rb_entry(n, struct backup_cell, node);
		if (!cell->hold)
			backup_stall_check_locked(bc, st, &cell->waiters,
						  &cell->wait_since,
						  cell->chunk);
	}
	backup_stall_check_locked(bc, st, &bc->deferred_bios,
				  &bc->deferred_since, bc->nr_chunks);
}

/*
 * The stall watchdog: no write waits longer than cbw_timeout for its
 * copy, whatever the backup device does (QEMU's cbw-timeout).  Under
 * on_cbw_error break_backup the job fails and every waiting write goes
 * on; under fail_write the writes that waited too long fail with -EIO
 * and their chunks stay uncopied, so the backup stays exact.
 */
static void backup_stall_work(struct work_struct *ws)
{
	struct backup_c *bc = container_of(to_delayed_work(ws),
					   struct backup_c, stall_work);
	unsigned int ms = READ_ONCE(bc->cbw_timeout);
	struct backup_stall st = {
		.timeout = msecs_to_jiffies(ms),
		.now = jiffies,
		.fail = BIO_EMPTY_LIST,
	};
	bool broke = false;

	if (!ms)
		return;
	spin_lock(&bc->job->lock);
	if (!backup_job_active(bc->job->state)) {
		spin_unlock(&bc->job->lock);
		return;
	}
	backup_stall_scan_locked(bc, &st);
	/* The job's policy decides what the stall does. */
	if (st.expired)
		broke = bc->ops->write_stalled_locked(bc, st.chunk);
	if (!broke && st.have_next && !test_bit(BACKUP_DYING, &bc->flags))
		queue_delayed_work(bc->copy_wq, &bc->stall_work,
				   st.next - st.now);
	spin_unlock(&bc->job->lock);

	if (!st.expired)
		return;
	DMERR_LIMIT("%s: a write waited more than %u ms for the copy of chunk %lu: %s",
		    bc->name, ms, st.chunk,
		    broke ? "backup broken (backup device stalled)" :
			    "write failed (on_cbw_error fail_write)");
	backup_fail_bios(bc, &st.fail, BLK_STS_IOERR);
	/* A worker waiting for the buffer of a copy nobody waits for. */
	wake_up_all(&bc->copy_done_wait);
	backup_kick(bc);
}

/*
 * The job has ended (cancelled or failed): every write still waiting for
 * a copy, or deferred for lack of one, goes on now, whatever the backup
 * device does.  Writes parked on a view's hold still wait for its origin
 * read: that keeps the view's read at the point in time.
 */
static void backup_end_work(struct work_struct *ws)
{
	struct backup_c *bc = container_of(ws, struct backup_c, end_work);
	struct bio_list bios = BIO_EMPTY_LIST;
	struct backup_cell *cell;
	struct rb_node *n;

	spin_lock(&bc->job->lock);
	for (n = rb_first(&bc->inflight); n; n = rb_next(n)) {
		cell = rb_entry(n, struct backup_cell, node);
		if (cell->hold)
			continue;
		bio_list_merge(&bios, &cell->waiters);
		bio_list_init(&cell->waiters);
	}
	bio_list_merge(&bios, &bc->deferred_bios);
	bio_list_init(&bc->deferred_bios);
	spin_unlock(&bc->job->lock);

	/* The worker may sleep for the buffer of a copy that is moot now. */
	wake_up_all(&bc->copy_done_wait);
	backup_resubmit(bc, &bios);
}

/* Caller holds bc->job->lock and has just ended the job. */
void backup_job_ended_locked(struct backup_c *bc)
{
	lockdep_assert_held(&bc->job->lock);
	queue_work(bc->copy_wq, &bc->end_work);
}

void backup_copy_engine_init(struct backup_c *bc)
{
	INIT_DELAYED_WORK(&bc->stall_work, backup_stall_work);
	INIT_WORK(&bc->end_work, backup_end_work);
}

/*-------------------------------------------------------------------------*/
/* Copy-before-write */

/* Caller holds bc->job->lock; @chunk is neither copied nor in flight. */
void backup_copy_init_locked(struct backup_copy *copy, unsigned long chunk,
			     unsigned long end, bool for_walk)
{
	lockdep_assert_held(&copy->bc->job->lock);
	copy->for_walk = for_walk;
	copy->retry_data_write = false;
	copy->status = BLK_STS_OK;
	copy->read_failed = false;
	copy->nr_pages = 0;
	copy->nr_zero = 0;
	INIT_LIST_HEAD(&copy->list);
	backup_inflight_insert(copy->bc, &copy->cell, chunk, end, false);
	copy->bc->copies_started++;
}

static void backup_start_new_copies(struct backup_c *bc, struct list_head *new)
{
	struct backup_copy *copy, *tmp;
	bool deferred = false;

	list_for_each_entry_safe(copy, tmp, new, list) {
		list_del_init(&copy->list);
		if (backup_copy_start_nowait(copy))
			continue;
		spin_lock(&bc->job->lock);
		list_add_tail(&copy->list, &bc->pending_copies);
		spin_unlock(&bc->job->lock);
		deferred = true;
	}
	if (deferred)
		backup_kick(bc);
}

/*
 * Make sure every chunk @bio is about to change is on the backup device
 * before @bio reaches the origin.
 *
 * Returns true when @bio may go to the origin now.  Otherwise @bio has
 * been parked: on the waiter list of a copy in flight over one of its
 * chunks (it is looked at again when that copy ends), or on the deferred
 * list when no copy could be allocated without sleeping.  Copies are
 * started for every uncopied chunk of @bio at once, so a large write
 * waits for them in parallel.
 *
 * @spare, if given, is a copy allocated by a caller that may sleep; it is
 * consumed (set to NULL) when used.
 */
bool backup_cow_bio(struct backup_c *bc, struct bio *bio,
		    struct backup_copy **spare)
{
	struct backup_cell *blocker = NULL, *cell;
	struct backup_copy *copy;
	unsigned long first, last, chunk, next;
	LIST_HEAD(new_copies);

	backup_bio_chunks(bc, bio, &first, &last);
	if (backup_chunks_copied(bc, first, last))
		return true;

	spin_lock(&bc->job->lock);
	if (!backup_job_active(bc->job->state)) {
		bool wait = !bc->job->end_committed;

		/* A persistent job's end is not recorded yet: it releases. */
		if (wait)
			backup_park_write_locked(bc, &bc->deferred_bios,
						 &bc->deferred_since, bio);
		spin_unlock(&bc->job->lock);
		return !wait;
	}
	trace_dm_backup_cow_enter(bc->dev, bio->bi_iter.bi_sector,
				  bio_sectors(bio), first, last);
	chunk = first;
	while (chunk <= last) {
		next = backup_next_uncopied(bc, chunk, last + 1);
		if (next != chunk)
			trace_dm_backup_cow_skip(bc->dev, chunk, next - chunk);
		chunk = next;
		if (chunk > last)
			break;
		cell = backup_inflight_find(bc, chunk, &next);
		if (cell && cell->saved) {
			/* Its old data is safe: as good as copied. */
			trace_dm_backup_cow_skip(bc->dev, cell->chunk,
						 cell->nr_chunks);
			chunk = cell->chunk + cell->nr_chunks;
			continue;
		} else if (cell) {
			trace_dm_backup_cow_wait(bc->dev, cell->chunk,
						 cell->nr_chunks);
			if (!cell->hold)
				bc->ops->copy_awaited_locked(bc);
		} else {
			if (spare && *spare) {
				copy = *spare;
				*spare = NULL;
			} else {
				copy = backup_copy_alloc(bc, GFP_NOWAIT | __GFP_NOWARN);
			}
			if (!copy)
				break;
			backup_copy_init_locked(copy, chunk,
						backup_run_end(bc, chunk, last + 1, next),
						false);
			trace_dm_backup_cow_process(bc->dev, copy->cell.chunk,
						    copy->cell.nr_chunks);
			list_add_tail(&copy->list, &new_copies);
			cell = &copy->cell;
		}
		if (!blocker)
			blocker = cell;
		chunk = cell->chunk + cell->nr_chunks;
	}

	if (blocker)
		backup_park_write_locked(bc, &blocker->waiters,
					 &blocker->wait_since, bio);
	else if (chunk <= last)
		backup_park_write_locked(bc, &bc->deferred_bios,
					 &bc->deferred_since, bio);
	spin_unlock(&bc->job->lock);

	backup_start_new_copies(bc, &new_copies);
	if (!blocker && chunk <= last) {
		backup_kick(bc);
		return false;
	}
	return !blocker;
}
