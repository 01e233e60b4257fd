// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup metadata: a persistent job's superblocks and bitmaps (copied,
 * and for a tracking job changed) on its metadata device (format:
 * dm-backup-metadata.h), behind a narrow API in the way
 * dm-clone-metadata.c serves dm-clone: open (read and check), format,
 * mark chunks copied or changed in memory, commit, start an increment.
 * It knows nothing of copies or writes; the job decides when to commit
 * and what may wait.
 *
 * All I/O is synchronous and serialised by meta->lock: a commit writes the
 * bitmap blocks that changed since the last one in place, with FUA (a bit
 * is durable when the commit returns), and when asked the next superblock
 * with a preflush and FUA.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/bio.h>
#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/crc32.h>
#include <linux/device-mapper.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>

#include "dm-backup-metadata.h"

#define DM_MSG_PREFIX "backup"

/*
 * One bitmap of the job in memory: the next commit writes the blocks
 * marked in @dirty.  The changed bitmap is marked from map() under the
 * job's spinlock, so its bits and @dirty are set and cleared with atomic
 * bitops; a commit clears a block's dirty bit before it encodes the
 * block, so that a bit set meanwhile dirties it again.
 */
struct backup_meta_bits {
	unsigned long *bits;
	unsigned long *dirty;		/* one bit per block */
	u64 first_block;		/* on the device */
};

struct backup_meta {
	/*
	 * Held by reference (get_device()), as the copy engine holds the
	 * backup device: a commit may come after the table that opened it
	 * is gone.
	 */
	struct block_device *bdev;
	/* Serialises all I/O, and protects everything below. */
	struct mutex lock;
	struct page *page;		/* the I/O buffer */
	/*
	 * How long the I/O of the operation under way may wait (jiffies, 0
	 * for ever): @timeout for a load and a first resume, for ever for a
	 * commit (the job's watchdog bounds the writes that wait for one).
	 * @timeout is the table's cbw_timeout when it was loaded.
	 */
	unsigned long wait;
	unsigned long timeout;
	/*
	 * A first resume's undo: the superblock block @undo_block must
	 * hold if any of its requests gives up (struct backup_meta_req).
	 * The first request that gives up takes it.
	 */
	struct page *undo;
	u64 undo_block;
	/* An increment: its parent's superblock as the load read it. */
	struct page *parent_sb;
	struct backup_meta_geometry geo;
	u64 nr_blocks;			/* of each bitmap */
	u64 seq;			/* of the newest superblock */
	bool has_job;
	/*
	 * The device holds the completed job geo.parent, and the table
	 * starts an increment of it at its first resume.
	 */
	bool increment_pending;
	/* An increment: its parent job, and where its map lies (or 0). */
	u8 parent[16];
	u64 map_block;
	struct backup_meta_record rec;	/* as read by open */
	/* The bitmaps as the next commit writes them. */
	struct backup_meta_bits copied;
	struct backup_meta_bits changed;	/* with geo.track only */
	u64 nr_copied;
};

/* Error messages too long for the lines they are used on. */
#define BACKUP_MD_TOO_SMALL \
	"Metadata device too small: it needs 8 KiB and 4 KiB per 32768 chunks"
#define BACKUP_MD_TOO_SMALL_TRACK \
	"Metadata device too small: it needs 8 KiB and 16 KiB per 32768 chunks (track)"
#define BACKUP_MD_NOT_THE_PARENT \
	"Metadata holds neither the job to make an increment of nor an increment of it"
#define BACKUP_MD_TIMED_OUT \
	"Metadata device did not answer within cbw_timeout"
#define BACKUP_MD_LATE_IO \
	"Metadata device still has I/O in flight from a load or start that timed out"

/* Bitmap blocks follow the two superblocks. */
#define BACKUP_MD_FIRST_BITMAP_BLOCK	BACKUP_MD_NR_SUPERBLOCKS

static u64 backup_meta_bitmap_blocks(u64 nr_chunks)
{
	return DIV_ROUND_UP_ULL(nr_chunks, BACKUP_MD_BITS_PER_BLOCK);
}

/*
 * Blocks a job needs: the superblocks, then its bitmaps' areas, one after
 * the other: one, or with tracking four (BACKUP_MD_TRACK_AREAS).
 */
static u64 backup_meta_needed_blocks(const struct backup_meta_geometry *geo)
{
	return BACKUP_MD_FIRST_BITMAP_BLOCK +
	       (geo->track ? BACKUP_MD_TRACK_AREAS : 1) *
	       backup_meta_bitmap_blocks(geo->nr_chunks);
}

/*
 * ---- Metadata I/O that gives up waiting --------------------------------
 *
 * A load and a first resume wait for the metadata device at most
 * meta->wait: a device that hangs must fail them, not hold the volume
 * suspended for ever (the resume runs with the volume suspended).  So a
 * bio owns its pages and a reference to the device, and a waiter that
 * gives up leaves them to the completion, whenever the device answers.
 *
 * A write of a first resume that gave up may still land.  A new job's
 * superblock would then name a job that never went live, and an
 * increment's one a point in time no copy-before-write kept; continuing
 * either would be wrong.  So the first request that gives up takes the
 * operation's undo (meta->undo): a superblock it writes once the device
 * has answered, landed or not (zeroes for a new job, the parent with its
 * record lost for an increment).  Until the late bios of a device have
 * ended, no table can load on it (BACKUP_MD_LATE_IO), nor can any timed
 * operation start there: the undo must not land over a newer superblock.
 * A late bio holds a reference to the module: its completion is module
 * code.  Commits wait for ever, in the job's commit workqueue: the job's
 * watchdog bounds what waits for them.
 */
struct backup_meta_req {
	struct bio *bio;
	struct block_device *bdev;	/* held by reference (get_device()) */
	u64 block;
	struct completion done;
	/* The waiter's and the completion's: the last one frees. */
	refcount_t ref;
	blk_status_t status;
	bool late;			/* the waiter gave up */
	struct page *undo;		/* written to @undo_block when late */
	u64 undo_block;
	struct list_head late_entry;	/* on backup_meta_late while late */
	struct work_struct work;	/* frees in process context */
	unsigned int nr_pages;
	struct page *pages[];
};

/* The late requests (see above); protected by backup_meta_late_lock. */
static LIST_HEAD(backup_meta_late);
static DEFINE_SPINLOCK(backup_meta_late_lock);
static struct workqueue_struct *backup_meta_wq;

int backup_meta_module_init(void)
{
	backup_meta_wq = alloc_workqueue("dm-" DM_MSG_PREFIX "-meta", 0, 0);
	return backup_meta_wq ? 0 : -ENOMEM;
}

/* No late request is left: each holds a reference to the module. */
void backup_meta_module_exit(void)
{
	destroy_workqueue(backup_meta_wq);
}

static void backup_meta_req_free(struct backup_meta_req *req)
{
	unsigned int k;

	for (k = 0; k < req->nr_pages; k++)
		if (req->pages[k])
			__free_page(req->pages[k]);
	if (req->undo)
		__free_page(req->undo);
	bio_put(req->bio);
	put_device(&req->bdev->bd_device);
	kfree(req);
}

static void backup_meta_req_put(struct backup_meta_req *req)
{
	if (refcount_dec_and_test(&req->ref))
		backup_meta_req_free(req);
}

/* Does @bdev have a late request? */
static bool backup_meta_has_late_io(struct block_device *bdev)
{
	struct backup_meta_req *req;
	bool found = false;

	spin_lock(&backup_meta_late_lock);
	list_for_each_entry(req, &backup_meta_late, late_entry)
		found = found || req->bdev == bdev;
	spin_unlock(&backup_meta_late_lock);
	return found;
}

/* A superblock landed after its writer gave up: put the slot back. */
static void backup_meta_undo_super(struct backup_meta_req *req)
{
	struct bio_vec bvec;
	struct bio bio;
	int r;

	bio_init(&bio, req->bdev, &bvec, 1, REQ_OP_WRITE | REQ_SYNC | REQ_FUA);
	bio.bi_iter.bi_sector = req->undo_block * BACKUP_MD_BLOCK_SECTORS;
	__bio_add_page(&bio, req->undo, BACKUP_MD_BLOCK_SIZE, 0);
	r = submit_bio_wait(&bio);
	bio_uninit(&bio);
	if (r)
		DMERR("metadata device %pg: cannot undo a late superblock write: error %d",
		      req->bdev, r);
	else
		DMINFO("metadata device %pg: a late superblock write is undone",
		       req->bdev);
}

/*
 * The completion dropped the last reference: free the request, and if its
 * waiter gave up (the refcount orders @late before this), undo its
 * superblock, landed or torn, first.
 */
static void backup_meta_late_work(struct work_struct *ws)
{
	struct backup_meta_req *req = container_of(ws, struct backup_meta_req,
						   work);
	bool late = req->late;

	if (!late) {
		backup_meta_req_free(req);
		return;
	}
	if (req->undo)
		backup_meta_undo_super(req);
	spin_lock(&backup_meta_late_lock);
	list_del(&req->late_entry);
	spin_unlock(&backup_meta_late_lock);
	backup_meta_req_free(req);
	module_put(THIS_MODULE);
}

static void backup_meta_req_end_io(struct bio *bio)
{
	struct backup_meta_req *req = bio->bi_private;

	req->status = bio->bi_status;
	complete(&req->done);
	/* Last only if the waiter gave up: free in process context. */
	if (refcount_dec_and_test(&req->ref))
		queue_work(backup_meta_wq, &req->work);
}

/* A request for @n blocks from @block, its pages in the bio; NULL on ENOMEM. */
static struct backup_meta_req *backup_meta_req_alloc(struct backup_meta *meta,
						     u64 block, unsigned int n,
						     blk_opf_t opf)
{
	struct backup_meta_req *req;
	unsigned int k;

	req = kzalloc(struct_size(req, pages, n), GFP_KERNEL);
	if (!req)
		return NULL;
	req->bdev = meta->bdev;
	get_device(&req->bdev->bd_device);
	req->block = block;
	req->nr_pages = n;
	init_completion(&req->done);
	refcount_set(&req->ref, 2);
	INIT_LIST_HEAD(&req->late_entry);
	INIT_WORK(&req->work, backup_meta_late_work);
	req->bio = bio_alloc(meta->bdev, n, opf, GFP_KERNEL);
	req->bio->bi_iter.bi_sector = block * BACKUP_MD_BLOCK_SECTORS;
	req->bio->bi_private = req;
	req->bio->bi_end_io = backup_meta_req_end_io;
	for (k = 0; k < n; k++) {
		req->pages[k] = alloc_page(GFP_KERNEL);
		if (!req->pages[k]) {
			backup_meta_req_free(req);
			return NULL;
		}
		__bio_add_page(req->bio, req->pages[k], BACKUP_MD_BLOCK_SIZE, 0);
	}
	return req;
}

/* The waiter gives up: the completion frees @req, whenever it comes. */
static void backup_meta_req_abandon(struct backup_meta *meta,
				    struct backup_meta_req *req)
{
	DMERR("metadata device %pg did not answer within %u ms: giving up",
	      meta->bdev, jiffies_to_msecs(meta->wait));
	__module_get(THIS_MODULE);
	req->late = true;
	req->undo = meta->undo;
	req->undo_block = meta->undo_block;
	meta->undo = NULL;
	spin_lock(&backup_meta_late_lock);
	list_add_tail(&req->late_entry, &backup_meta_late);
	spin_unlock(&backup_meta_late_lock);
	if (refcount_dec_and_test(&req->ref))
		queue_work(backup_meta_wq, &req->work);
}

/*
 * Submit @req and wait for it, at most meta->wait.  0 or the bio's error,
 * and the caller puts @req; or -ETIMEDOUT, and @req is not the caller's
 * any more.
 */
static int backup_meta_req_run(struct backup_meta *meta,
			       struct backup_meta_req *req)
{
	submit_bio(req->bio);
	if (!meta->wait) {
		wait_for_completion_io(&req->done);
	} else if (!wait_for_completion_io_timeout(&req->done, meta->wait)) {
		backup_meta_req_abandon(meta, req);
		return -ETIMEDOUT;
	}
	return blk_status_to_errno(req->status);
}

/* A commit's block: no copy, no allocation, no time limit. */
static int backup_meta_io_untimed(struct backup_meta *meta, u64 block,
				  blk_opf_t opf)
{
	struct bio_vec bvec;
	struct bio bio;
	int r;

	bio_init(&bio, meta->bdev, &bvec, 1, opf);
	bio.bi_iter.bi_sector = block * BACKUP_MD_BLOCK_SECTORS;
	__bio_add_page(&bio, meta->page, BACKUP_MD_BLOCK_SIZE, 0);
	r = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return r;
}

/* One block from or to the buffer. */
static int backup_meta_io(struct backup_meta *meta, u64 block,
			  blk_opf_t opf)
{
	struct backup_meta_req *req;
	int r;

	if (!meta->wait)
		return backup_meta_io_untimed(meta, block, opf);
	req = backup_meta_req_alloc(meta, block, 1, opf);
	if (!req)
		return -ENOMEM;
	if (op_is_write(opf))
		copy_page(page_address(req->pages[0]), page_address(meta->page));
	r = backup_meta_req_run(meta, req);
	if (r == -ETIMEDOUT)
		return r;
	if (!r && !op_is_write(opf))
		copy_page(page_address(meta->page), page_address(req->pages[0]));
	backup_meta_req_put(req);
	return r;
}

static u32 backup_meta_crc(const void *block)
{
	return crc32_le(~0U, block, BACKUP_MD_BLOCK_SIZE) ^ ~0U;
}

/* The superblock in the buffer: its seq if valid, else 0 (seq starts at 1). */
static u64 backup_meta_check_super(struct backup_meta *meta)
{
	struct backup_md_super *sb = page_address(meta->page);
	u32 crc = le32_to_cpu(sb->crc);
	u32 actual;

	if (le64_to_cpu(sb->magic) != BACKUP_MD_MAGIC ||
	    le32_to_cpu(sb->version) != BACKUP_MD_VERSION)
		return 0;
	sb->crc = 0;
	actual = backup_meta_crc(sb);
	sb->crc = cpu_to_le32(crc);
	return actual == crc ? le64_to_cpu(sb->seq) : 0;
}

static bool backup_meta_block_is_zero(struct backup_meta *meta)
{
	return !memchr_inv(page_address(meta->page), 0, BACKUP_MD_BLOCK_SIZE);
}

/*
 * Read both superblocks; leave the newer valid one in the buffer.  Returns
 * 1 with a job, 0 for a device that holds none (both blocks zero), or an
 * error.
 */
static int backup_meta_read_super(struct backup_meta *meta, char **error)
{
	u64 seq[BACKUP_MD_NR_SUPERBLOCKS];
	bool zero = true;
	int i, best, r;

	for (i = 0; i < BACKUP_MD_NR_SUPERBLOCKS; i++) {
		r = backup_meta_io(meta, i, REQ_OP_READ);
		if (r) {
			*error = "Cannot read the metadata device";
			return r;
		}
		seq[i] = backup_meta_check_super(meta);
		zero = zero && backup_meta_block_is_zero(meta);
	}
	if (zero)
		return 0;
	if (!seq[0] && !seq[1]) {
		*error = "Metadata device holds no valid dm-backup superblock (and is not zeroed)";
		return -EINVAL;
	}
	best = seq[1] > seq[0];
	if (best != BACKUP_MD_NR_SUPERBLOCKS - 1) {
		r = backup_meta_io(meta, best, REQ_OP_READ);
		if (r) {
			*error = "Cannot read the metadata device";
			return r;
		}
	}
	meta->seq = seq[best];
	return 1;
}

/*
 * Does the superblock in the buffer describe the job the table names?  For
 * the parent of an increment (@parent) only what the two jobs share must
 * match: the volume and the chunks, not the sync mode or backup device.
 */
static int backup_meta_check_geometry(struct backup_meta *meta, bool parent,
				      char **error)
{
	struct backup_md_super *sb = page_address(meta->page);
	const struct backup_meta_geometry *geo = &meta->geo;
	u32 flags = le32_to_cpu(sb->flags);

	if (flags & ~BACKUP_MD_FLAGS)
		*error = "Metadata superblock has unknown flags";
	else if (!(flags & BACKUP_MD_FLAG_TRACK) != !geo->track)
		*error = geo->track ?
			"Metadata holds a job that does not track changes (table has track on)" :
			"Metadata holds a job that tracks changes (table lacks track on)";
	else if (le64_to_cpu(sb->origin_sectors) != geo->origin_sectors)
		*error = "Metadata holds a job of another target length";
	else if (le32_to_cpu(sb->chunk_sectors) != geo->chunk_sectors)
		*error = "Metadata holds a job of another chunk_size";
	else if (!parent && le32_to_cpu(sb->sync_mode) != geo->sync_mode)
		*error = "Metadata holds a job of another sync mode";
	else if (!parent &&
		 le64_to_cpu(sb->backup_sectors) != geo->backup_sectors)
		*error = "Metadata holds a job on a backup device of another size";
	else if (le64_to_cpu(sb->nr_chunks) != geo->nr_chunks)
		*error = "Metadata holds a job with another number of chunks";
	else
		return 0;
	return -EINVAL;
}

/*
 * The bitmaps' descriptors, checked: inside the device, after the
 * superblocks, the size the chunks need, one of each kind the job has
 * (copied; changed if it tracks).  Descriptors of other kinds are a later
 * format's business; only their place is checked.
 */
static int backup_meta_find_bitmaps(struct backup_meta *meta, char **error)
{
	struct backup_md_super *sb = page_address(meta->page);
	u64 dev_blocks = bdev_nr_sectors(meta->bdev) / BACKUP_MD_BLOCK_SECTORS;
	u32 i, n = le32_to_cpu(sb->nr_bitmaps);
	struct backup_meta_bits *b;

	if (n > BACKUP_MD_MAX_BITMAPS) {
		*error = "Metadata superblock has too many bitmaps";
		return -EINVAL;
	}
	meta->copied.first_block = 0;
	meta->changed.first_block = 0;
	meta->map_block = 0;
	for (i = 0; i < n; i++) {
		struct backup_md_bitmap *d = &sb->bitmaps[i];
		u64 start = le64_to_cpu(d->first_block);
		u64 len = le64_to_cpu(d->nr_blocks);

		if (start < BACKUP_MD_FIRST_BITMAP_BLOCK || start > dev_blocks ||
		    len > dev_blocks - start) {
			*error = "Metadata bitmap lies outside the metadata device";
			return -EINVAL;
		}
		switch (le32_to_cpu(d->kind)) {
		case BACKUP_MD_BITMAP_COPIED:
			b = &meta->copied;
			break;
		case BACKUP_MD_BITMAP_CHANGED:
			b = meta->geo.track ? &meta->changed : NULL;
			if (b)
				break;
			*error = "Metadata has a changed bitmap but no track flag";
			return -EINVAL;
		case BACKUP_MD_BITMAP_MAP:
			if (len != meta->nr_blocks) {
				*error = "Metadata bitmap does not fit the job";
				return -EINVAL;
			}
			meta->map_block = start;
			continue;
		default:
			continue;
		}
		if (b->first_block || len != meta->nr_blocks) {
			*error = "Metadata bitmap does not fit the job";
			return -EINVAL;
		}
		b->first_block = start;
	}
	if (!meta->copied.first_block) {
		*error = "Metadata superblock has no copied bitmap";
		return -EINVAL;
	}
	if (meta->geo.track && !meta->changed.first_block) {
		*error = "Metadata superblock has no changed bitmap";
		return -EINVAL;
	}
	/* A commit writes both: one must not land on the other. */
	if (meta->geo.track &&
	    meta->copied.first_block < meta->changed.first_block + meta->nr_blocks &&
	    meta->changed.first_block < meta->copied.first_block + meta->nr_blocks) {
		*error = "Metadata bitmaps overlap";
		return -EINVAL;
	}
	return 0;
}

static void backup_meta_decode_record(struct backup_meta *meta)
{
	struct backup_md_super *sb = page_address(meta->page);
	struct backup_meta_record *rec = &meta->rec;

	memcpy(rec->uuid, sb->uuid, sizeof(rec->uuid));
	rec->pit_ns = le64_to_cpu(sb->pit_ns);
	rec->state = le32_to_cpu(sb->state);
	rec->last_error = le32_to_cpu(sb->last_error);
	rec->last_error_chunk = le64_to_cpu(sb->last_error_chunk);
	rec->unmapped_chunks = le64_to_cpu(sb->unmapped_chunks);
	rec->cbw_chunks = le64_to_cpu(sb->cbw_chunks);
	rec->zero_chunks = le64_to_cpu(sb->zero_chunks);
	rec->source_errors = le64_to_cpu(sb->source_errors);
	rec->target_errors = le64_to_cpu(sb->target_errors);
	rec->skipped_chunks = le64_to_cpu(sb->skipped_chunks);
	rec->track_lost = le32_to_cpu(sb->flags) & BACKUP_MD_FLAG_TRACK_LOST;
	memcpy(meta->parent, sb->parent_uuid, sizeof(meta->parent));
}

/* Values a corrupt or hostile superblock must not smuggle in. */
static int backup_meta_check_record(struct backup_meta *meta, char **error)
{
	const struct backup_meta_record *rec = &meta->rec;
	u64 n = meta->geo.nr_chunks;

	/* enum backup_state: running, paused, completed, failed, cancelled */
	if (rec->state > 4) {
		*error = "Metadata superblock has an unknown job state";
		return -EINVAL;
	}
	if (rec->last_error > 0 || rec->last_error < -MAX_ERRNO ||
	    rec->last_error_chunk > n || rec->unmapped_chunks > n ||
	    rec->cbw_chunks > n || rec->zero_chunks > n ||
	    rec->skipped_chunks > n) {
		*error = "Metadata superblock has counters out of range";
		return -EINVAL;
	}
	return 0;
}

/* Block @i of a bitmap, to and from the buffer. */
static unsigned long *backup_meta_block_bits(struct backup_meta_bits *b, u64 i)
{
	return b->bits + i * (BACKUP_MD_BITS_PER_BLOCK / BITS_PER_LONG);
}

static void backup_meta_encode_block(struct backup_meta_bits *b, u64 i,
				     void *buf)
{
	__le64 *disk = buf;
	u64 *words = buf;
	unsigned int w;

	bitmap_to_arr64(words, backup_meta_block_bits(b, i),
			BACKUP_MD_BITS_PER_BLOCK);
	for (w = 0; w < BACKUP_MD_BLOCK_SIZE / sizeof(u64); w++)
		disk[w] = cpu_to_le64(words[w]);
}

static void backup_meta_decode_block(struct backup_meta_bits *b, u64 i,
				     void *buf)
{
	__le64 *disk = buf;
	u64 *words = buf;
	unsigned int w;

	for (w = 0; w < BACKUP_MD_BLOCK_SIZE / sizeof(u64); w++)
		words[w] = le64_to_cpu(disk[w]);
	bitmap_from_arr64(backup_meta_block_bits(b, i), words,
			  BACKUP_MD_BITS_PER_BLOCK);
}

/*
 * Whole bitmaps (open, format, an increment's start) move in bios of up
 * to this many blocks (1 MiB), not a block at a time: a 1 TiB origin's
 * bitmap is 512 blocks.
 */
#define BACKUP_MD_BULK_BLOCKS		256

/*
 * Blocks [@i, @i + @n) of bitmap @b, @n <= BACKUP_MD_BULK_BLOCKS, read
 * into or written from @b->bits in one bio, a page per block.
 */
static int backup_meta_bulk_bio(struct backup_meta *meta,
				struct backup_meta_bits *b, u64 i,
				unsigned int n, blk_opf_t opf)
{
	bool write = op_is_write(opf);
	struct backup_meta_req *req;
	unsigned int k;
	int r;

	req = backup_meta_req_alloc(meta, b->first_block + i, n, opf);
	if (!req)
		return -ENOMEM;
	for (k = 0; write && k < n; k++)
		backup_meta_encode_block(b, i + k, page_address(req->pages[k]));
	r = backup_meta_req_run(meta, req);
	if (r == -ETIMEDOUT)
		return r;
	for (k = 0; !r && !write && k < n; k++)
		backup_meta_decode_block(b, i + k, page_address(req->pages[k]));
	backup_meta_req_put(req);
	return r;
}

/* Read or write (@opf) every block of bitmap @b. */
static int backup_meta_bulk_io(struct backup_meta *meta,
			       struct backup_meta_bits *b, blk_opf_t opf)
{
	unsigned int nr;
	int r = 0;
	u64 i;

	for (i = 0; i < meta->nr_blocks && !r; i += nr) {
		nr = min_t(u64, meta->nr_blocks - i, BACKUP_MD_BULK_BLOCKS);
		r = backup_meta_bulk_bio(meta, b, i, nr, opf);
	}
	return r;
}

static int backup_meta_read_bitmap(struct backup_meta *meta,
				   struct backup_meta_bits *b, char **error)
{
	int r;

	r = backup_meta_bulk_io(meta, b, REQ_OP_READ);
	if (r) {
		*error = "Cannot read the metadata bitmap";
		return r;
	}
	/* Bits past the last chunk mean nothing: a torn tail cannot count. */
	bitmap_clear(b->bits, meta->geo.nr_chunks,
		     meta->nr_blocks * BACKUP_MD_BITS_PER_BLOCK - meta->geo.nr_chunks);
	return 0;
}

/* A job on the device: check it against the table, load its bitmaps. */
static int backup_meta_load(struct backup_meta *meta, char **error)
{
	int r;

	r = backup_meta_check_geometry(meta, false, error);
	if (!r)
		r = backup_meta_find_bitmaps(meta, error);
	if (r)
		return r;
	backup_meta_decode_record(meta);
	if (!meta->geo.parent != !memchr_inv(meta->parent, 0, sizeof(meta->parent))) {
		*error = meta->geo.parent ?
			"Metadata holds a job that is not an increment" :
			"Metadata holds an increment (table lacks increment <uuid>)";
		return -EINVAL;
	}
	r = backup_meta_check_record(meta, error);
	if (!r)
		r = backup_meta_read_bitmap(meta, &meta->copied, error);
	if (!r && meta->geo.track)
		r = backup_meta_read_bitmap(meta, &meta->changed, error);
	if (r)
		return r;
	meta->nr_copied = bitmap_weight(meta->copied.bits, meta->geo.nr_chunks);
	if (meta->nr_copied < meta->rec.unmapped_chunks) {
		*error = "Metadata bitmap has fewer bits than unmapped chunks";
		return -EINVAL;
	}
	meta->has_job = true;
	return 0;
}

/*
 * The superblock in the buffer is the completed tracking job the table
 * makes an increment of, with its record whole, on the same volume.
 */
static int backup_meta_check_parent(struct backup_meta *meta, char **error)
{
	struct backup_md_super *sb = page_address(meta->page);
	u32 flags = le32_to_cpu(sb->flags);
	int r;

	if (memcmp(sb->uuid, meta->geo.parent, sizeof(sb->uuid))) {
		*error = BACKUP_MD_NOT_THE_PARENT;
		return -EINVAL;
	}
	r = backup_meta_check_geometry(meta, true, error);
	if (r)
		return r;
	if (le32_to_cpu(sb->state) != 2) {	/* BACKUP_COMPLETED */
		*error = "Job to make an increment of has not completed";
		return -EINVAL;
	}
	if (flags & BACKUP_MD_FLAG_TRACK_LOST) {
		*error = "Job to make an increment of lost its change record";
		return -EINVAL;
	}
	return backup_meta_find_bitmaps(meta, error);
}

/*
 * Table option "increment <parent>": the device holds the parent, to
 * start an increment of at the first resume, or an increment of it to
 * continue.
 */
static int backup_meta_open_increment(struct backup_meta *meta, char **error)
{
	struct backup_md_super *sb = page_address(meta->page);

	if (!memcmp(sb->parent_uuid, meta->geo.parent, sizeof(sb->parent_uuid)))
		return backup_meta_load(meta, error);
	if (backup_meta_check_parent(meta, error))
		return -EINVAL;
	meta->parent_sb = alloc_page(GFP_KERNEL);
	if (meta->parent_sb)
		copy_page(page_address(meta->parent_sb), page_address(meta->page));
	meta->increment_pending = true;
	return 0;
}

static int backup_meta_bits_alloc(struct backup_meta *meta,
				  struct backup_meta_bits *b)
{
	size_t longs = meta->nr_blocks * (BACKUP_MD_BITS_PER_BLOCK / BITS_PER_LONG);

	b->bits = kvcalloc(longs, sizeof(unsigned long),
			   GFP_KERNEL | __GFP_RETRY_MAYFAIL);
	b->dirty = bitmap_zalloc(meta->nr_blocks, GFP_KERNEL);
	return b->bits && b->dirty ? 0 : -ENOMEM;
}

static void backup_meta_bits_free(struct backup_meta_bits *b)
{
	bitmap_free(b->dirty);
	kvfree(b->bits);
}

static struct backup_meta *backup_meta_alloc(struct block_device *bdev,
					     const struct backup_meta_geometry *geo)
{
	struct backup_meta *meta = kzalloc(sizeof(*meta), GFP_KERNEL);
	int r;

	if (!meta)
		return NULL;
	mutex_init(&meta->lock);
	meta->geo = *geo;
	meta->nr_blocks = backup_meta_bitmap_blocks(geo->nr_chunks);
	r = backup_meta_bits_alloc(meta, &meta->copied);
	if (!r && geo->track)
		r = backup_meta_bits_alloc(meta, &meta->changed);
	meta->page = alloc_page(GFP_KERNEL);
	meta->bdev = bdev;
	get_device(&bdev->bd_device);
	if (r || !meta->page) {
		backup_meta_close(meta);
		return NULL;
	}
	return meta;
}

/*
 * Open the metadata of the job a table names on @bdev: a job that matches
 * @geo (its state, counters and copied bitmap are then read), or a zeroed
 * device (backup_meta_has_job() false; backup_meta_format() makes it one).
 * Anything else is refused with *@error set, and nothing is written.
 */
int backup_meta_open(struct block_device *bdev,
		     const struct backup_meta_geometry *geo,
		     unsigned int timeout_ms, struct backup_meta **metap,
		     char **error)
{
	struct backup_meta *meta;
	int r;

	if (bdev_nr_sectors(bdev) / BACKUP_MD_BLOCK_SECTORS <
	    backup_meta_needed_blocks(geo)) {
		*error = geo->track ? BACKUP_MD_TOO_SMALL_TRACK : BACKUP_MD_TOO_SMALL;
		return -EINVAL;
	}
	if (bdev_logical_block_size(bdev) > BACKUP_MD_BLOCK_SIZE) {
		*error = "Metadata device's logical block size is above 4 KiB";
		return -EINVAL;
	}
	if (backup_meta_has_late_io(bdev)) {
		*error = BACKUP_MD_LATE_IO;
		return -EBUSY;
	}
	meta = backup_meta_alloc(bdev, geo);
	if (!meta) {
		*error = "Cannot allocate the metadata";
		return -ENOMEM;
	}
	mutex_lock(&meta->lock);
	meta->timeout = msecs_to_jiffies(timeout_ms);
	meta->wait = meta->timeout;
	r = backup_meta_read_super(meta, error);
	if (r > 0 && geo->parent) {
		r = backup_meta_open_increment(meta, error);
	} else if (r > 0) {
		r = backup_meta_load(meta, error);
	} else if (!r && geo->parent) {
		*error = "Metadata device holds no job to make an increment of";
		r = -EINVAL;
	}
	if (r == -ETIMEDOUT)
		*error = BACKUP_MD_TIMED_OUT;
	mutex_unlock(&meta->lock);
	if (r) {
		backup_meta_close(meta);
		return r;
	}
	*metap = meta;
	return 0;
}

void backup_meta_close(struct backup_meta *meta)
{
	if (!meta)
		return;
	if (meta->page)
		__free_page(meta->page);
	if (meta->parent_sb)
		__free_page(meta->parent_sb);
	backup_meta_bits_free(&meta->changed);
	backup_meta_bits_free(&meta->copied);
	put_device(&meta->bdev->bd_device);
	kfree(meta);
}

bool backup_meta_has_job(struct backup_meta *meta)
{
	return meta->has_job;
}

/* The table starts an increment at its first resume: see above. */
bool backup_meta_increment_pending(struct backup_meta *meta)
{
	return meta->increment_pending;
}

/* The record open found; only with a job. */
void backup_meta_get_record(struct backup_meta *meta,
			    struct backup_meta_record *rec)
{
	*rec = meta->rec;
}

/* The copied bitmap open found; bits past the last chunk are clear. */
const unsigned long *backup_meta_copied(struct backup_meta *meta)
{
	return meta->copied.bits;
}

/* The changed bitmap open found, NULL for a job that does not track. */
const unsigned long *backup_meta_changed(struct backup_meta *meta)
{
	return meta->changed.bits;
}

dev_t backup_meta_dev(struct backup_meta *meta)
{
	return meta->bdev->bd_dev;
}

static void backup_meta_encode_super(struct backup_meta *meta,
				     const struct backup_meta_record *rec)
{
	struct backup_md_super *sb = page_address(meta->page);
	struct backup_md_bitmap *d = &sb->bitmaps[0];
	u32 flags = 0;

	memset(sb, 0, BACKUP_MD_BLOCK_SIZE);
	sb->magic = cpu_to_le64(BACKUP_MD_MAGIC);
	sb->version = cpu_to_le32(BACKUP_MD_VERSION);
	sb->seq = cpu_to_le64(meta->seq);
	memcpy(sb->uuid, rec->uuid, sizeof(sb->uuid));
	sb->pit_ns = cpu_to_le64(rec->pit_ns);
	sb->origin_sectors = cpu_to_le64(meta->geo.origin_sectors);
	sb->backup_sectors = cpu_to_le64(meta->geo.backup_sectors);
	sb->chunk_sectors = cpu_to_le32(meta->geo.chunk_sectors);
	sb->sync_mode = cpu_to_le32(meta->geo.sync_mode);
	sb->state = cpu_to_le32(rec->state);
	sb->last_error = cpu_to_le32(rec->last_error);
	sb->last_error_chunk = cpu_to_le64(rec->last_error_chunk);
	sb->nr_chunks = cpu_to_le64(meta->geo.nr_chunks);
	sb->copied_chunks = cpu_to_le64(meta->nr_copied);
	sb->unmapped_chunks = cpu_to_le64(rec->unmapped_chunks);
	sb->cbw_chunks = cpu_to_le64(rec->cbw_chunks);
	sb->zero_chunks = cpu_to_le64(rec->zero_chunks);
	sb->source_errors = cpu_to_le64(rec->source_errors);
	sb->target_errors = cpu_to_le64(rec->target_errors);
	sb->skipped_chunks = cpu_to_le64(rec->skipped_chunks);
	d->kind = cpu_to_le32(BACKUP_MD_BITMAP_COPIED);
	d->first_block = cpu_to_le64(meta->copied.first_block);
	d->nr_blocks = cpu_to_le64(meta->nr_blocks);
	if (meta->geo.track) {
		d++;
		d->kind = cpu_to_le32(BACKUP_MD_BITMAP_CHANGED);
		d->first_block = cpu_to_le64(meta->changed.first_block);
		d->nr_blocks = cpu_to_le64(meta->nr_blocks);
		flags |= BACKUP_MD_FLAG_TRACK;
	}
	if (rec->track_lost)
		flags |= BACKUP_MD_FLAG_TRACK_LOST;
	if (meta->map_block) {
		d++;
		d->kind = cpu_to_le32(BACKUP_MD_BITMAP_MAP);
		d->first_block = cpu_to_le64(meta->map_block);
		d->nr_blocks = cpu_to_le64(meta->nr_blocks);
	}
	sb->nr_bitmaps = cpu_to_le32(d - sb->bitmaps + 1);
	sb->flags = cpu_to_le32(flags);
	memcpy(sb->parent_uuid, meta->parent, sizeof(sb->parent_uuid));
	sb->crc = cpu_to_le32(backup_meta_crc(sb));
}

/* Write the blocks of @b marked dirty, each durable when written (FUA). */
static int backup_meta_write_bits(struct backup_meta *meta,
				  struct backup_meta_bits *b)
{
	u64 i;
	int r;

	for_each_set_bit(i, b->dirty, meta->nr_blocks) {
		/*
		 * Before the encode, and ordered before it: a bit set from
		 * now on dirties the block again.
		 */
		if (!test_and_clear_bit(i, b->dirty))
			continue;
		backup_meta_encode_block(b, i, page_address(meta->page));
		r = backup_meta_io(meta, b->first_block + i,
				   REQ_OP_WRITE | REQ_SYNC | REQ_FUA);
		if (r) {
			set_bit(i, b->dirty);
			return r;
		}
	}
	return 0;
}

/*
 * The whole bitmaps of a new superblock (a format, an increment's start),
 * without FUA: the superblock's preflush makes them durable before it
 * counts them, so a 1 TiB origin's megabytes of bitmap cost a few large
 * writes and one flush.  Nothing marks them meanwhile (no instance acts
 * on the job yet).
 */
static int backup_meta_write_whole(struct backup_meta *meta)
{
	int r;

	r = backup_meta_bulk_io(meta, &meta->copied, REQ_OP_WRITE);
	if (!r && meta->geo.track)
		r = backup_meta_bulk_io(meta, &meta->changed, REQ_OP_WRITE);
	if (r)
		return r;
	bitmap_zero(meta->copied.dirty, meta->nr_blocks);
	if (meta->geo.track)
		bitmap_zero(meta->changed.dirty, meta->nr_blocks);
	return 0;
}

/*
 * The next superblock, over the older slot: the preflush makes any earlier
 * write durable before the superblock that counts it, FUA it before this
 * returns.
 */
static int backup_meta_write_super(struct backup_meta *meta,
				   const struct backup_meta_record *rec)
{
	meta->seq++;
	backup_meta_encode_super(meta, rec);
	return backup_meta_io(meta, meta->seq % BACKUP_MD_NR_SUPERBLOCKS,
			      REQ_OP_WRITE | REQ_SYNC | REQ_PREFLUSH | REQ_FUA);
}

/*
 * Write the bitmap blocks marked dirty, then, if @super, the next
 * superblock: the preflush makes any earlier write durable before the
 * superblock that counts it, FUA the superblock before this returns.
 * A commit's bitmap blocks go with FUA, as they matter before any
 * superblock counts them; @whole: write the whole bitmaps of a new
 * superblock instead (backup_meta_write_whole()).  Caller holds
 * meta->lock.
 */
static int backup_meta_write(struct backup_meta *meta,
			     const struct backup_meta_record *rec, bool super,
			     bool whole)
{
	int r;

	if (whole)
		r = backup_meta_write_whole(meta);
	else
		r = backup_meta_write_bits(meta, &meta->copied);
	if (!r && !whole && meta->geo.track)
		r = backup_meta_write_bits(meta, &meta->changed);
	if (r || !super)
		return r;
	return backup_meta_write_super(meta, rec);
}

/*
 * A first resume's I/O waits at most the table's cbw_timeout, and does not
 * start while a late request of an earlier one is in flight.  Caller holds
 * meta->lock.
 */
static int backup_meta_begin_timed(struct backup_meta *meta)
{
	if (!meta->timeout)
		return 0;
	meta->wait = meta->timeout;
	if (!backup_meta_has_late_io(meta->bdev))
		return 0;
	DMERR("metadata device %pg: %s", meta->bdev,
	      "I/O of a start that timed out is still in flight");
	return -EBUSY;
}

/* @undo (or NULL), for block @block, is the operation's: see struct backup_meta. */
static void backup_meta_set_undo(struct backup_meta *meta, struct page *undo,
				 u64 block)
{
	if (meta->undo)
		__free_page(meta->undo);
	/* Without a time limit no request gives up: nothing to undo. */
	if (undo && !meta->timeout) {
		__free_page(undo);
		undo = NULL;
	}
	meta->undo = undo;
	meta->undo_block = block;
}

/*
 * Make a zeroed device the metadata of a new job: the whole copied bitmap
 * (in top mode the chunks the map leaves out are set), the changed bitmap
 * (empty: nothing was written since the point in time), then the first
 * superblock.
 */
int backup_meta_format(struct backup_meta *meta,
		       const struct backup_meta_record *rec,
		       const unsigned long *copied)
{
	int r;

	mutex_lock(&meta->lock);
	r = backup_meta_begin_timed(meta);
	if (r)
		goto out;
	meta->copied.first_block = BACKUP_MD_FIRST_BITMAP_BLOCK;
	bitmap_copy(meta->copied.bits, copied, meta->geo.nr_chunks);
	meta->nr_copied = bitmap_weight(meta->copied.bits, meta->geo.nr_chunks);
	if (meta->geo.track)
		meta->changed.first_block = meta->copied.first_block +
					    meta->nr_blocks;
	meta->seq = 0;
	/* A zeroed device: a late superblock is undone with zeroes. */
	backup_meta_set_undo(meta, alloc_page(GFP_KERNEL | __GFP_ZERO), 1);
	r = backup_meta_write(meta, rec, true, true);
	backup_meta_set_undo(meta, NULL, 0);
	if (!r) {
		meta->has_job = true;
		meta->rec = *rec;
	}
out:
	mutex_unlock(&meta->lock);
	return r;
}

/* Does area @a of a tracking job's metadata overlap the bitmap at @first? */
static bool backup_meta_area_overlaps(struct backup_meta *meta, u64 a,
				      u64 first)
{
	u64 start = BACKUP_MD_FIRST_BITMAP_BLOCK + a * meta->nr_blocks;

	return start < first + meta->nr_blocks && first < start + meta->nr_blocks;
}

/*
 * An increment's bitmaps go to two areas its parent's do not touch, so
 * that until the superblock flips, the parent is whole on the device.
 */
static int backup_meta_pick_areas(struct backup_meta *meta, u64 *areas)
{
	u64 a, n = 0;

	for (a = 0; a < BACKUP_MD_TRACK_AREAS && n < 2; a++) {
		if (backup_meta_area_overlaps(meta, a, meta->copied.first_block) ||
		    backup_meta_area_overlaps(meta, a, meta->changed.first_block))
			continue;
		areas[n++] = BACKUP_MD_FIRST_BITMAP_BLOCK + a * meta->nr_blocks;
	}
	return n == 2 ? 0 : -ENOSPC;
}

/*
 * Read the parent again (its table is suspended now: its record is whole
 * and nothing changes it) and check it is still what the table named.
 */
static int backup_meta_reread_parent(struct backup_meta *meta)
{
	char *error = NULL;
	int r;

	r = backup_meta_read_super(meta, &error);
	if (r == 1)
		r = backup_meta_check_parent(meta, &error);
	else if (!r)
		r = -EINVAL;
	if (!r)
		r = backup_meta_read_bitmap(meta, &meta->changed, &error);
	if (r)
		DMERR("cannot start the increment: %s",
		      error ?: "the metadata device changed");
	return r;
}

/*
 * An increment's undo (struct backup_meta): the parent as the load read
 * it, with its record marked lost, in the older slot (where the
 * increment's superblock goes), with a sequence number no commit of the
 * parent reaches before the increment's first resume, so that it is the
 * newer superblock.  Odd: the slot of a superblock is its seq modulo 2.
 * The volume may have been written without the parent's table since:
 * that table went with the resume that failed, and none can load on the
 * device until the late request has ended.
 */
#define BACKUP_MD_UNDO_SEQ_JUMP		((1ULL << 32) + 1)

static void backup_meta_set_parent_undo(struct backup_meta *meta)
{
	struct backup_md_super *sb;
	struct page *undo;
	u64 seq;

	if (!meta->timeout || !meta->parent_sb)
		return;
	undo = alloc_page(GFP_KERNEL);
	if (!undo)
		return;
	copy_page(page_address(undo), page_address(meta->parent_sb));
	sb = page_address(undo);
	seq = le64_to_cpu(sb->seq) + BACKUP_MD_UNDO_SEQ_JUMP;
	sb->seq = cpu_to_le64(seq);
	sb->flags |= cpu_to_le32(BACKUP_MD_FLAG_TRACK_LOST);
	sb->crc = 0;
	sb->crc = cpu_to_le32(backup_meta_crc(sb));
	backup_meta_set_undo(meta, undo, seq % BACKUP_MD_NR_SUPERBLOCKS);
}

/*
 * First resume of an increment: the parent's changed chunks are what it
 * copies (in its copied bitmap, every other chunk starts set: *@nr_unmapped
 * of them), its own record starts empty, and one superblock write makes
 * it the job on the device.  The parent's changed bitmap stays as the
 * increment's map.  @rec: the increment's record; its copied bitmap is
 * then backup_meta_copied().
 */
int backup_meta_start_increment(struct backup_meta *meta,
				const struct backup_meta_record *rec,
				unsigned long *nr_unmapped)
{
	struct backup_meta_record inc = *rec;
	unsigned int nr = meta->geo.nr_chunks;
	u64 areas[2];
	int r;

	mutex_lock(&meta->lock);
	r = backup_meta_begin_timed(meta);
	if (r)
		goto out;
	backup_meta_set_parent_undo(meta);
	r = backup_meta_reread_parent(meta);
	if (!r)
		r = backup_meta_pick_areas(meta, areas);
	if (r)
		goto out;
	bitmap_complement(meta->copied.bits, meta->changed.bits, nr);
	bitmap_clear(meta->copied.bits, nr,
		     meta->nr_blocks * BACKUP_MD_BITS_PER_BLOCK - nr);
	meta->nr_copied = bitmap_weight(meta->copied.bits, nr);
	inc.unmapped_chunks = meta->nr_copied;
	bitmap_zero(meta->changed.bits, meta->nr_blocks * BACKUP_MD_BITS_PER_BLOCK);
	meta->map_block = meta->changed.first_block;
	meta->copied.first_block = areas[0];
	meta->changed.first_block = areas[1];
	memcpy(meta->parent, meta->geo.parent, sizeof(meta->parent));
	r = backup_meta_write(meta, &inc, true, true);
	if (r)
		goto out;
	*nr_unmapped = inc.unmapped_chunks;
	meta->rec = inc;
	meta->has_job = true;
	meta->increment_pending = false;
out:
	backup_meta_set_undo(meta, NULL, 0);
	mutex_unlock(&meta->lock);
	return r;
}

/*
 * The data of [@chunk, @chunk + @nr) is durable on the backup device: the
 * next commit records it.
 */
void backup_meta_set_copied(struct backup_meta *meta, unsigned long chunk,
			    unsigned int nr)
{
	unsigned long i;

	mutex_lock(&meta->lock);
	for (i = chunk; i < chunk + nr; i++) {
		if (__test_and_set_bit(i, meta->copied.bits))
			continue;
		meta->nr_copied++;
		__set_bit(i / BACKUP_MD_BITS_PER_BLOCK, meta->copied.dirty);
	}
	mutex_unlock(&meta->lock);
}

/*
 * @chunk of a tracking job is to be written: the next commit records it.
 * Any context (map() calls it under the job's spinlock): atomic bitops,
 * see struct backup_meta_bits.
 */
void backup_meta_set_changed(struct backup_meta *meta, unsigned long chunk)
{
	if (!test_and_set_bit(chunk, meta->changed.bits))
		set_bit(chunk / BACKUP_MD_BITS_PER_BLOCK, meta->changed.dirty);
}

/*
 * Commit the bits set since the last commit, and if @super @rec; 0 once
 * durable.
 */
int backup_meta_commit(struct backup_meta *meta,
		       const struct backup_meta_record *rec, bool super)
{
	int r;

	mutex_lock(&meta->lock);
	meta->wait = 0;
	r = backup_meta_write(meta, rec, super, false);
	mutex_unlock(&meta->lock);
	return r;
}
