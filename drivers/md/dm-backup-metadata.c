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
#include <linux/crc32.h>
#include <linux/device-mapper.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uuid.h>

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
 * into or written from @b->bits in one bio, a buffer page per block.
 */
static int backup_meta_bulk_bio(struct backup_meta *meta,
				struct backup_meta_bits *b, u64 i,
				unsigned int n, struct page **pages,
				blk_opf_t opf)
{
	bool write = op_is_write(opf);
	struct bio *bio;
	unsigned int k;
	int r;

	bio = bio_alloc(meta->bdev, n, opf, GFP_KERNEL);
	bio->bi_iter.bi_sector = (b->first_block + i) * BACKUP_MD_BLOCK_SECTORS;
	for (k = 0; k < n; k++) {
		if (write)
			backup_meta_encode_block(b, i + k, page_address(pages[k]));
		__bio_add_page(bio, pages[k], BACKUP_MD_BLOCK_SIZE, 0);
	}
	r = submit_bio_wait(bio);
	bio_put(bio);
	for (k = 0; !r && !write && k < n; k++)
		backup_meta_decode_block(b, i + k, page_address(pages[k]));
	return r;
}

/* Read or write (@opf) every block of bitmap @b. */
static int backup_meta_bulk_io(struct backup_meta *meta,
			       struct backup_meta_bits *b, blk_opf_t opf)
{
	unsigned int nr = min_t(u64, meta->nr_blocks, BACKUP_MD_BULK_BLOCKS);
	unsigned int k, got = 0;
	struct page **pages;
	int r = -ENOMEM;
	u64 i;

	pages = kcalloc(nr, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	for (got = 0; got < nr; got++) {
		pages[got] = alloc_page(GFP_KERNEL);
		if (!pages[got])
			goto out;
	}
	for (i = 0, r = 0; i < meta->nr_blocks && !r; i += nr) {
		nr = min_t(u64, meta->nr_blocks - i, BACKUP_MD_BULK_BLOCKS);
		r = backup_meta_bulk_bio(meta, b, i, nr, pages, opf);
	}
out:
	for (k = 0; k < got; k++)
		__free_page(pages[k]);
	kfree(pages);
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
		     struct backup_meta **metap, char **error)
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
	meta = backup_meta_alloc(bdev, geo);
	if (!meta) {
		*error = "Cannot allocate the metadata";
		return -ENOMEM;
	}
	mutex_lock(&meta->lock);
	r = backup_meta_read_super(meta, error);
	if (r > 0 && geo->parent) {
		r = backup_meta_open_increment(meta, error);
	} else if (r > 0) {
		r = backup_meta_load(meta, error);
	} else if (!r && geo->parent) {
		*error = "Metadata device holds no job to make an increment of";
		r = -EINVAL;
	}
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
	meta->seq++;
	backup_meta_encode_super(meta, rec);
	return backup_meta_io(meta, meta->seq % BACKUP_MD_NR_SUPERBLOCKS,
			      REQ_OP_WRITE | REQ_SYNC | REQ_PREFLUSH | REQ_FUA);
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
	meta->copied.first_block = BACKUP_MD_FIRST_BITMAP_BLOCK;
	bitmap_copy(meta->copied.bits, copied, meta->geo.nr_chunks);
	meta->nr_copied = bitmap_weight(meta->copied.bits, meta->geo.nr_chunks);
	if (meta->geo.track)
		meta->changed.first_block = meta->copied.first_block +
					    meta->nr_blocks;
	meta->seq = 0;
	r = backup_meta_write(meta, rec, true, true);
	if (!r) {
		meta->has_job = true;
		meta->rec = *rec;
	}
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
	r = backup_meta_write(meta, rec, super, false);
	mutex_unlock(&meta->lock);
	return r;
}
