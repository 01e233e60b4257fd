// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup metadata: a persistent job's superblocks and copied bitmap on
 * its metadata device (format: dm-backup-metadata.h), behind a narrow API
 * in the way dm-clone-metadata.c serves dm-clone: open (read and check),
 * format, mark chunks copied in memory, commit.  It knows nothing of
 * copies or writes; the job decides when to commit and what may wait.
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
#include <linux/crc32.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uuid.h>

#include "dm-backup-metadata.h"

#define DM_MSG_PREFIX "backup"

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
	struct backup_meta_geometry geo;
	u64 nr_blocks;			/* of the copied bitmap */
	u64 seq;			/* of the newest superblock */
	bool has_job;
	struct backup_meta_record rec;	/* as read by open */
	/*
	 * The copied bitmap as the next commit writes it, and one bit per
	 * bitmap block changed since the last commit.
	 */
	unsigned long *copied;
	unsigned long *dirty;
	u64 nr_copied;
};

/* Bitmap blocks follow the two superblocks. */
#define BACKUP_MD_FIRST_BITMAP_BLOCK	BACKUP_MD_NR_SUPERBLOCKS

static u64 backup_meta_bitmap_blocks(u64 nr_chunks)
{
	return DIV_ROUND_UP_ULL(nr_chunks, BACKUP_MD_BITS_PER_BLOCK);
}

static int backup_meta_io(struct backup_meta *meta, u64 block,
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

/* Does the superblock in the buffer describe the job the table names? */
static int backup_meta_check_geometry(struct backup_meta *meta, char **error)
{
	struct backup_md_super *sb = page_address(meta->page);
	const struct backup_meta_geometry *geo = &meta->geo;

	if (le64_to_cpu(sb->origin_sectors) != geo->origin_sectors)
		*error = "Metadata holds a job of another target length";
	else if (le32_to_cpu(sb->chunk_sectors) != geo->chunk_sectors)
		*error = "Metadata holds a job of another chunk_size";
	else if (le32_to_cpu(sb->sync_mode) != geo->sync_mode)
		*error = "Metadata holds a job of another sync mode";
	else if (le64_to_cpu(sb->backup_sectors) != geo->backup_sectors)
		*error = "Metadata holds a job on a backup device of another size";
	else if (le64_to_cpu(sb->nr_chunks) != geo->nr_chunks)
		*error = "Metadata holds a job with another number of chunks";
	else
		return 0;
	return -EINVAL;
}

/*
 * The copied bitmap's descriptor, checked: inside the device, after the
 * superblocks, the size the chunks need.  Descriptors of other kinds are
 * a later format's business; only their place is checked.
 */
static int backup_meta_find_bitmap(struct backup_meta *meta, u64 *first,
				   char **error)
{
	struct backup_md_super *sb = page_address(meta->page);
	u64 dev_blocks = bdev_nr_sectors(meta->bdev) / BACKUP_MD_BLOCK_SECTORS;
	u32 i, n = le32_to_cpu(sb->nr_bitmaps);
	bool found = false;

	if (n > BACKUP_MD_MAX_BITMAPS) {
		*error = "Metadata superblock has too many bitmaps";
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct backup_md_bitmap *d = &sb->bitmaps[i];
		u64 start = le64_to_cpu(d->first_block);
		u64 len = le64_to_cpu(d->nr_blocks);

		if (start < BACKUP_MD_FIRST_BITMAP_BLOCK || start > dev_blocks ||
		    len > dev_blocks - start) {
			*error = "Metadata bitmap lies outside the metadata device";
			return -EINVAL;
		}
		if (le32_to_cpu(d->kind) != BACKUP_MD_BITMAP_COPIED)
			continue;
		if (found || len != meta->nr_blocks) {
			*error = "Metadata copied bitmap does not fit the job";
			return -EINVAL;
		}
		*first = start;
		found = true;
	}
	if (!found) {
		*error = "Metadata superblock has no copied bitmap";
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

/* Bitmap block @i of the buffer to and from meta->copied. */
static unsigned long *backup_meta_block_bits(struct backup_meta *meta, u64 i)
{
	return meta->copied + i * (BACKUP_MD_BITS_PER_BLOCK / BITS_PER_LONG);
}

static void backup_meta_encode_block(struct backup_meta *meta, u64 i)
{
	__le64 *disk = page_address(meta->page);
	u64 *words = page_address(meta->page);
	unsigned int w;

	bitmap_to_arr64(words, backup_meta_block_bits(meta, i),
			BACKUP_MD_BITS_PER_BLOCK);
	for (w = 0; w < BACKUP_MD_BLOCK_SIZE / sizeof(u64); w++)
		disk[w] = cpu_to_le64(words[w]);
}

static void backup_meta_decode_block(struct backup_meta *meta, u64 i)
{
	__le64 *disk = page_address(meta->page);
	u64 *words = page_address(meta->page);
	unsigned int w;

	for (w = 0; w < BACKUP_MD_BLOCK_SIZE / sizeof(u64); w++)
		words[w] = le64_to_cpu(disk[w]);
	bitmap_from_arr64(backup_meta_block_bits(meta, i), words,
			  BACKUP_MD_BITS_PER_BLOCK);
}

static int backup_meta_read_bitmap(struct backup_meta *meta, u64 first,
				   char **error)
{
	u64 i;
	int r;

	for (i = 0; i < meta->nr_blocks; i++) {
		r = backup_meta_io(meta, first + i, REQ_OP_READ);
		if (r) {
			*error = "Cannot read the metadata bitmap";
			return r;
		}
		backup_meta_decode_block(meta, i);
	}
	/* Bits past the last chunk mean nothing: a torn tail cannot count. */
	bitmap_clear(meta->copied, meta->geo.nr_chunks,
		     meta->nr_blocks * BACKUP_MD_BITS_PER_BLOCK - meta->geo.nr_chunks);
	meta->nr_copied = bitmap_weight(meta->copied, meta->geo.nr_chunks);
	if (meta->nr_copied < meta->rec.unmapped_chunks) {
		*error = "Metadata bitmap has fewer bits than unmapped chunks";
		return -EINVAL;
	}
	return 0;
}

/* A job on the device: check it against the table, load its bitmap. */
static int backup_meta_load(struct backup_meta *meta, char **error)
{
	u64 first;
	int r;

	r = backup_meta_check_geometry(meta, error);
	if (!r)
		r = backup_meta_find_bitmap(meta, &first, error);
	if (r)
		return r;
	backup_meta_decode_record(meta);
	r = backup_meta_check_record(meta, error);
	if (!r)
		r = backup_meta_read_bitmap(meta, first, error);
	if (!r)
		meta->has_job = true;
	return r;
}

static struct backup_meta *backup_meta_alloc(struct block_device *bdev,
					     const struct backup_meta_geometry *geo)
{
	struct backup_meta *meta = kzalloc(sizeof(*meta), GFP_KERNEL);
	size_t longs;

	if (!meta)
		return NULL;
	mutex_init(&meta->lock);
	meta->geo = *geo;
	meta->nr_blocks = backup_meta_bitmap_blocks(geo->nr_chunks);
	longs = meta->nr_blocks * (BACKUP_MD_BITS_PER_BLOCK / BITS_PER_LONG);
	meta->copied = kvcalloc(longs, sizeof(unsigned long),
				GFP_KERNEL | __GFP_RETRY_MAYFAIL);
	meta->dirty = bitmap_zalloc(meta->nr_blocks, GFP_KERNEL);
	meta->page = alloc_page(GFP_KERNEL);
	meta->bdev = bdev;
	get_device(&bdev->bd_device);
	if (!meta->copied || !meta->dirty || !meta->page) {
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
		     struct backup_meta **metap, char **error)
{
	struct backup_meta *meta;
	int r;

	if (bdev_nr_sectors(bdev) / BACKUP_MD_BLOCK_SECTORS <
	    BACKUP_MD_FIRST_BITMAP_BLOCK + backup_meta_bitmap_blocks(geo->nr_chunks)) {
		*error = "Metadata device too small: it needs 8 KiB and 4 KiB per 32768 chunks";
		return -EINVAL;
	}
	if (bdev_logical_block_size(bdev) > BACKUP_MD_BLOCK_SIZE) {
		*error = "Metadata device's logical block size is above 4 KiB";
		return -EINVAL;
	}
	meta = backup_meta_alloc(bdev, geo);
	if (!meta) {
		*error = "Cannot allocate the metadata";
		return -ENOMEM;
	}
	mutex_lock(&meta->lock);
	r = backup_meta_read_super(meta, error);
	if (r > 0)
		r = backup_meta_load(meta, error);
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
	bitmap_free(meta->dirty);
	kvfree(meta->copied);
	put_device(&meta->bdev->bd_device);
	kfree(meta);
}

bool backup_meta_has_job(struct backup_meta *meta)
{
	return meta->has_job;
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
	return meta->copied;
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
	sb->nr_bitmaps = cpu_to_le32(1);
	d->kind = cpu_to_le32(BACKUP_MD_BITMAP_COPIED);
	d->first_block = cpu_to_le64(BACKUP_MD_FIRST_BITMAP_BLOCK);
	d->nr_blocks = cpu_to_le64(meta->nr_blocks);
	sb->crc = cpu_to_le32(backup_meta_crc(sb));
}

/*
 * Write the bitmap blocks marked dirty, each durable when written (FUA),
 * then, if @super, the next superblock: the preflush makes any earlier
 * write durable before the superblock that counts it, FUA the superblock
 * before this returns.  Caller holds meta->lock.
 */
static int backup_meta_write(struct backup_meta *meta,
			     const struct backup_meta_record *rec, bool super)
{
	u64 i;
	int r;

	for_each_set_bit(i, meta->dirty, meta->nr_blocks) {
		backup_meta_encode_block(meta, i);
		r = backup_meta_io(meta, BACKUP_MD_FIRST_BITMAP_BLOCK + i,
				   REQ_OP_WRITE | REQ_SYNC | REQ_FUA);
		if (r)
			return r;
		__clear_bit(i, meta->dirty);
	}
	if (!super)
		return 0;
	meta->seq++;
	backup_meta_encode_super(meta, rec);
	return backup_meta_io(meta, meta->seq % BACKUP_MD_NR_SUPERBLOCKS,
			      REQ_OP_WRITE | REQ_SYNC | REQ_PREFLUSH | REQ_FUA);
}

/*
 * Make a zeroed device the metadata of a new job: the whole bitmap (in top
 * mode the chunks the map leaves out are set), then the first superblock.
 */
int backup_meta_format(struct backup_meta *meta,
		       const struct backup_meta_record *rec,
		       const unsigned long *copied)
{
	int r;

	mutex_lock(&meta->lock);
	bitmap_copy(meta->copied, copied, meta->geo.nr_chunks);
	meta->nr_copied = bitmap_weight(meta->copied, meta->geo.nr_chunks);
	bitmap_fill(meta->dirty, meta->nr_blocks);
	meta->seq = 0;
	r = backup_meta_write(meta, rec, true);
	if (!r) {
		meta->has_job = true;
		meta->rec = *rec;
	}
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
		if (__test_and_set_bit(i, meta->copied))
			continue;
		meta->nr_copied++;
		__set_bit(i / BACKUP_MD_BITS_PER_BLOCK, meta->dirty);
	}
	mutex_unlock(&meta->lock);
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
	r = backup_meta_write(meta, rec, super);
	mutex_unlock(&meta->lock);
	return r;
}
