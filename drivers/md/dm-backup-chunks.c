// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup chunk state: chunk geometry, the bitmap of copied chunks and
 * the tree of copies in flight.
 *
 * A chunk is in exactly one of three states: copied (its bit is set),
 * in flight (a cell in bc->inflight covers it: a copy, or a view's hold)
 * or neither.  A write may
 * reach the origin only once every chunk it touches is copied; this file
 * answers which of the three states a chunk is in.
 *
 * It also keeps the ranges behind the walk's cursor that the walk must look
 * at again: chunks of a failed multi-chunk walk copy (retried one by one),
 * of an aborted walk copy or view hold, or of a copy that failed and left
 * its chunk uncopied.  The ranges never overlap, so that no chunk is judged
 * twice by an error policy for one failure.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/slab.h>

#include "dm-backup.h"

/*
 * The bitmap of copied chunks, one bit per chunk, all clear.  A bitmap too
 * large for this machine fails the table, not others.
 */
unsigned long *backup_bitmap_alloc(unsigned long nr_chunks)
{
	return kvcalloc(BITS_TO_LONGS(nr_chunks), sizeof(unsigned long),
			GFP_KERNEL | __GFP_RETRY_MAYFAIL);
}

/* The job's chunk state goes with the job's last reference. */
void backup_job_chunks_free(struct backup_job *job)
{
	struct backup_range *range, *tmp;

	kvfree(job->copied);
	list_for_each_entry_safe(range, tmp, &job->revisit, list)
		kfree(range);
}

/*
 * A persistent job's copied chunks, as its metadata recorded them; of
 * them, @nr_unmapped are chunks a top map left out.  Constructor only.
 */
void backup_job_load_copied(struct backup_job *job, const unsigned long *bits,
			    unsigned long nr_unmapped)
{
	bitmap_copy(job->copied, bits, job->nr_chunks);
	job->nr_copied = bitmap_weight(job->copied, job->nr_chunks);
	job->nr_unmapped = nr_unmapped;
}

/* What a new persistent job's metadata starts from (top: unmapped set). */
const unsigned long *backup_job_copied_bits(struct backup_job *job)
{
	return job->copied;
}

/*
 * A range for backup_revisit_add_locked(), allocated before the caller
 * takes bc->job->lock.  It must not sleep: it is called from copy completions,
 * which free the memory that reclaim may wait for.  NULL is fine.
 */
struct backup_range *backup_range_alloc(void)
{
	return kmalloc(sizeof(struct backup_range), GFP_NOWAIT | __GFP_NOWARN);
}

/*
 * The walk must look at [@start, @end) again; the part at or after its
 * cursor it reaches anyway.  Ranges that overlap or touch the new one are
 * merged into it, so the list stays disjoint.  Takes *@spare if it needs a
 * new range; returns false if it needed one and had none (the caller then
 * falls back to something coarser).  Caller holds bc->job->lock.
 */
bool backup_revisit_add_locked(struct backup_c *bc, unsigned long start,
			       unsigned long end, struct backup_range **spare)
{
	struct backup_range *range, *tmp, *merged = NULL;

	lockdep_assert_held(&bc->job->lock);
	end = min(end, bc->job->walk_cursor);
	if (start >= end)
		return true;
	list_for_each_entry_safe(range, tmp, &bc->job->revisit, list) {
		if (range->end < start || range->start > end)
			continue;
		start = min(start, range->start);
		end = max(end, range->end);
		list_del(&range->list);
		if (merged)
			kfree(range);
		else
			merged = range;
	}
	if (!merged) {
		merged = *spare;
		if (!merged)
			return false;
		*spare = NULL;
	}
	merged->start = start;
	merged->end = end;
	list_add_tail(&merged->list, &bc->job->revisit);
	return true;
}

/*
 * Make the walk look at the chunks of @cell again.  Without memory to
 * record the range, send the walk's cursor back instead: the chunks in
 * between are looked at again too, and one skipped under the ignore
 * policy may be counted twice until the job completes (which counts them
 * exactly).  Caller holds bc->job->lock.
 */
void backup_cell_revisit_locked(struct backup_c *bc, struct backup_cell *cell,
				struct backup_range **spare)
{
	lockdep_assert_held(&bc->job->lock);
	if (!backup_revisit_add_locked(bc, cell->chunk,
				       cell->chunk + cell->nr_chunks, spare))
		bc->job->walk_cursor = min(bc->job->walk_cursor, cell->chunk);
}

/*
 * The next chunk to look at again, taken off its range, or bc->nr_chunks
 * if there is none.  Caller holds bc->job->lock.
 */
unsigned long backup_revisit_next_locked(struct backup_c *bc)
{
	struct backup_range *range;
	unsigned long chunk;

	lockdep_assert_held(&bc->job->lock);
	range = list_first_entry_or_null(&bc->job->revisit, struct backup_range,
					 list);
	if (!range)
		return bc->nr_chunks;
	chunk = range->start++;
	if (range->start == range->end) {
		list_del(&range->list);
		kfree(range);
	}
	return chunk;
}

bool backup_revisit_empty_locked(struct backup_c *bc)
{
	lockdep_assert_held(&bc->job->lock);
	return list_empty(&bc->job->revisit);
}

/* A copy of [@chunk, @chunk + @nr) has reached the backup device. */
void backup_mark_copied_locked(struct backup_c *bc, unsigned long chunk,
			       unsigned int nr)
{
	lockdep_assert_held(&bc->job->lock);
	bitmap_set(bc->job->copied, chunk, nr);
	bc->job->nr_copied += nr;
}

/* Lockless, as backup_chunks_copied(); for a single chunk. */
bool backup_chunk_copied(struct backup_c *bc, unsigned long chunk)
{
	return backup_chunks_copied(bc, chunk, chunk);
}

sector_t backup_chunk_to_sector(struct backup_c *bc, unsigned long chunk)
{
	return (sector_t)chunk << bc->chunk_shift;
}

/* Sectors covered by @nr_chunks chunks from @chunk, the last one clipped. */
unsigned int backup_range_sectors(struct backup_c *bc, unsigned long chunk,
				  unsigned int nr_chunks)
{
	sector_t start = backup_chunk_to_sector(bc, chunk);
	sector_t end = backup_chunk_to_sector(bc, chunk + nr_chunks);

	return min(end, bc->len) - start;
}

/* The first and last chunk @bio touches; @bio must carry sectors. */
void backup_bio_chunks(struct backup_c *bc, struct bio *bio,
		       unsigned long *first, unsigned long *last)
{
	sector_t start = dm_target_offset(bc->ti, bio->bi_iter.bi_sector);

	*first = start >> bc->chunk_shift;
	*last = (start + bio_sectors(bio) - 1) >> bc->chunk_shift;
}

/*
 * Lockless: true when all of [@first, @last] is on the backup device.
 * Bits are only ever set, after the copy completed, so a set bit can be
 * trusted without the lock; the barrier orders our caller's I/O after it.
 */
bool backup_chunks_copied(struct backup_c *bc, unsigned long first,
			  unsigned long last)
{
	if (find_next_zero_bit(bc->job->copied, last + 1, first) <= last)
		return false;
	/* Pairs with the unlock after backup_mark_copied_locked(). */
	smp_rmb();
	return true;
}

unsigned long backup_next_uncopied(struct backup_c *bc, unsigned long chunk,
				   unsigned long end)
{
	return find_next_zero_bit(bc->job->copied, end, chunk);
}

/*
 * Find the cell in flight (a copy or a view's hold) that covers @chunk.
 * When there is none, *@next_start is set to the first chunk of the next
 * cell after @chunk (ULONG_MAX if none), so callers can size a new copy
 * without overlap.  Caller holds bc->job->lock.
 */
struct backup_cell *backup_inflight_find(struct backup_c *bc,
					 unsigned long chunk,
					 unsigned long *next_start)
{
	struct rb_node *n = bc->inflight.rb_node;

	*next_start = ULONG_MAX;
	while (n) {
		struct backup_cell *cell = rb_entry(n, struct backup_cell, node);

		if (chunk < cell->chunk) {
			*next_start = cell->chunk;
			n = n->rb_left;
		} else if (chunk >= cell->chunk + cell->nr_chunks) {
			n = n->rb_right;
		} else {
			return cell;
		}
	}
	return NULL;
}

/*
 * A cell over [@chunk, @end), with nobody waiting yet, into the tree.
 * Caller holds bc->job->lock and made sure the range overlaps no other
 * cell.
 */
void backup_inflight_insert(struct backup_c *bc, struct backup_cell *cell,
			    unsigned long chunk, unsigned long end, bool hold)
{
	struct rb_node **p = &bc->inflight.rb_node, *parent = NULL;

	lockdep_assert_held(&bc->job->lock);
	cell->chunk = chunk;
	cell->nr_chunks = end - chunk;
	cell->hold = hold;
	cell->saved = false;
	cell->wait_since = 0;
	bio_list_init(&cell->waiters);
	INIT_LIST_HEAD(&cell->view_waiters);
	while (*p) {
		struct backup_cell *other = rb_entry(*p, struct backup_cell, node);

		parent = *p;
		if (chunk < other->chunk)
			p = &(*p)->rb_left;
		else
			p = &(*p)->rb_right;
	}
	rb_link_node(&cell->node, parent, p);
	rb_insert_color(&cell->node, &bc->inflight);
}

void backup_inflight_erase(struct backup_c *bc, struct backup_cell *cell)
{
	lockdep_assert_held(&bc->job->lock);
	rb_erase(&cell->node, &bc->inflight);
}

/*
 * End (exclusive) of the run of chunks from @chunk that a new copy may
 * take: not copied, not in flight (before @next_inflight), at most
 * @limit (exclusive) and at most one copy's worth of bytes.
 * Caller holds bc->job->lock.
 */
unsigned long backup_run_end(struct backup_c *bc, unsigned long chunk,
			     unsigned long limit, unsigned long next_inflight)
{
	unsigned long max_chunks = BACKUP_COPY_MAX_BYTES >>
				   (bc->chunk_shift + SECTOR_SHIFT);
	unsigned long end = min(limit, next_inflight);

	if (!max_chunks)
		max_chunks = 1;
	if (end - chunk > max_chunks)
		end = chunk + max_chunks;
	return find_next_bit(bc->job->copied, end, chunk);
}

/* Mark the chunks of one map byte: a clear bit means "not to copy". */
static void backup_apply_map_byte(struct backup_c *bc, unsigned long chunk,
				  u8 byte)
{
	unsigned int i;

	for (i = 0; i < 8 && chunk + i < bc->nr_chunks; i++)
		if (!(byte & (1 << i)))
			__set_bit(chunk + i, bc->job->copied);
}

/*
 * Top mode: read the allocation map, one bit per chunk (bit i is bit i % 8
 * of byte i / 8, least significant first; set = copy this chunk), and mark
 * the chunks it leaves out as if they were copied.  Constructor only.
 */
int backup_read_map(struct backup_c *bc, char **error)
{
	struct block_device *bdev = bc->map->bdev;
	size_t bytes = DIV_ROUND_UP(bc->nr_chunks, 8), pos, i;
	struct bio_vec bvec;
	struct page *page;
	struct bio bio;
	int r = 0;

	if ((u64)bdev_nr_sectors(bdev) << SECTOR_SHIFT < bytes) {
		*error = "Map device is too small: it needs one bit per chunk";
		return -EINVAL;
	}
	page = alloc_page(GFP_KERNEL);
	if (!page) {
		*error = "Cannot allocate memory to read the map";
		return -ENOMEM;
	}
	for (pos = 0; pos < bytes && !r; pos += PAGE_SIZE) {
		size_t n = min_t(size_t, bytes - pos, PAGE_SIZE);
		u8 *data = page_address(page);

		bio_init(&bio, bdev, &bvec, 1, REQ_OP_READ);
		bio.bi_iter.bi_sector = pos >> SECTOR_SHIFT;
		__bio_add_page(&bio, page, round_up(n, SECTOR_SIZE), 0);
		r = submit_bio_wait(&bio);
		bio_uninit(&bio);
		if (r) {
			*error = "Cannot read the map device";
			break;
		}
		for (i = 0; i < n; i++)
			backup_apply_map_byte(bc, (pos + i) * 8, data[i]);
	}
	__free_page(page);
	bc->job->nr_unmapped = bitmap_weight(bc->job->copied, bc->nr_chunks);
	bc->job->nr_copied = bc->job->nr_unmapped;
	return r;
}
