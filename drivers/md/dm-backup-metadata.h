/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-backup metadata: a persistent job's state on its metadata device.
 *
 * The on-disk format (all fields little endian, blocks of 4 KiB):
 *
 *   block 0, block 1   superblocks, written in turn: a commit writes the
 *                      one its sequence number selects (seq % 2), so a
 *                      torn superblock write leaves the other one whole.
 *                      The valid superblock (magic, version, crc) with the
 *                      higher seq is the job's state.
 *   block 2...         bitmaps, each described in the superblock by
 *                      struct backup_md_bitmap: bit n of a bitmap is bit
 *                      (n % 8) of byte (n / 8) of its blocks.
 *
 * The copied bitmap (BACKUP_MD_BITMAP_COPIED) has one bit per chunk, set
 * once the chunk's point-in-time data is durable on the backup device.
 * Bits only ever go from 0 to 1 within a job, so a bitmap block is written
 * in place, with FUA: a torn write leaves each sector old or new, a
 * superset of what was committed before and never a bit whose data is not
 * durable.  The superblock is written when the state changes, and for its
 * counters at most once a second: they may lag the bitmap after a crash.
 *
 * A job that tracks changes (table option "track", superblock flag
 * BACKUP_MD_FLAG_TRACK) has a second bitmap, BACKUP_MD_BITMAP_CHANGED,
 * right after the copied one: one bit per chunk written since the point
 * in time, committed before the write reaches the origin (mark before
 * write), so that after any crash it holds every chunk written.  Its bits
 * too only go from 0 to 1, and its blocks are written in place with FUA.
 * A job whose record could not be kept (its metadata device stalled or
 * failed while writes waited) says so with BACKUP_MD_FLAG_TRACK_LOST.
 *
 * A device whose superblocks are both all zeroes holds no job: the first
 * resume of a table naming it formats it.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#ifndef DM_BACKUP_METADATA_H
#define DM_BACKUP_METADATA_H

#include <linux/bits.h>
#include <linux/types.h>

#define BACKUP_MD_BLOCK_SIZE		4096
#define BACKUP_MD_BLOCK_SECTORS		(BACKUP_MD_BLOCK_SIZE >> SECTOR_SHIFT)
#define BACKUP_MD_BITS_PER_BLOCK	(BACKUP_MD_BLOCK_SIZE * 8)
/* "DMBKMETA" read as a little-endian 64-bit number. */
#define BACKUP_MD_MAGIC			0x4154454d4b424d44ULL
#define BACKUP_MD_VERSION		1
#define BACKUP_MD_NR_SUPERBLOCKS	2
#define BACKUP_MD_MAX_BITMAPS		4
/*
 * A tracking job's metadata has room for four bitmaps of the same size,
 * in areas one after the other from block 2: a job uses two (copied,
 * changed), the next increment the other two, so that the superblock
 * flips from one job to the next in one write.
 */
#define BACKUP_MD_TRACK_AREAS		4

enum backup_md_bitmap_kind {
	BACKUP_MD_BITMAP_NONE,
	BACKUP_MD_BITMAP_COPIED,	/* chunk on the backup device */
	BACKUP_MD_BITMAP_CHANGED,	/* written since the point in time */
	BACKUP_MD_BITMAP_MAP,		/* an increment: the chunks it copies */
};

/* Bits of backup_md_super.flags; any other bit set is refused. */
#define BACKUP_MD_FLAG_TRACK		BIT(0)		/* a changed bitmap */
#define BACKUP_MD_FLAG_TRACK_LOST	BIT(1)		/* it misses writes */
#define BACKUP_MD_FLAGS			(BACKUP_MD_FLAG_TRACK | \
					 BACKUP_MD_FLAG_TRACK_LOST)

struct backup_md_bitmap {
	__le32 kind;			/* enum backup_md_bitmap_kind */
	__le32 flags;			/* 0 */
	__le64 first_block;
	__le64 nr_blocks;
} __packed;

/*
 * The superblock.  @crc is the IEEE CRC-32 (as zlib's crc32()) of the
 * whole 4 KiB block with @crc set to 0.  @state, @sync_mode: the values of
 * enum backup_state and enum backup_sync_mode (dm-backup.h), which are
 * part of the format.  @last_error: a negative errno or 0.
 */
struct backup_md_super {
	__le64 magic;
	__le32 crc;
	__le32 version;
	__le64 seq;
	__u8 uuid[16];
	__le64 pit_ns;			/* point in time, CLOCK_REALTIME */
	__le64 origin_sectors;		/* length of the target */
	__le64 backup_sectors;		/* of the backup device at format */
	__le32 chunk_sectors;
	__le32 sync_mode;
	__le32 state;
	__le32 last_error;
	__le64 last_error_chunk;
	__le64 nr_chunks;
	__le64 copied_chunks;		/* set bits of the copied bitmap */
	__le64 unmapped_chunks;		/* top: chunks the map left out */
	__le64 cbw_chunks;
	__le64 zero_chunks;
	__le64 source_errors;
	__le64 target_errors;
	__le64 skipped_chunks;
	__le32 nr_bitmaps;
	__le32 flags;			/* BACKUP_MD_FLAG_* */
	struct backup_md_bitmap bitmaps[BACKUP_MD_MAX_BITMAPS];
	/* An increment: the job whose record it copies; else zeroes. */
	__u8 parent_uuid[16];
} __packed;

struct block_device;
struct backup_meta;

/* What a table says about its job, checked against the metadata. */
struct backup_meta_geometry {
	u64 origin_sectors;
	u64 backup_sectors;
	u32 chunk_sectors;
	u32 sync_mode;
	u64 nr_chunks;
	bool track;			/* table option "track" */
	/*
	 * Table option "increment <uuid>": an increment of the tracking job
	 * @parent, which the metadata holds completed (the increment starts
	 * at the first resume) or which it continues.  NULL otherwise.
	 */
	const u8 *parent;
};

/* The job's state as a commit writes it, and as the metadata held it. */
struct backup_meta_record {
	u8 uuid[16];
	u64 pit_ns;
	u32 state;
	s32 last_error;
	u64 last_error_chunk;
	u64 unmapped_chunks;
	u64 cbw_chunks;
	u64 zero_chunks;
	u64 source_errors;
	u64 target_errors;
	u64 skipped_chunks;
	bool track_lost;		/* BACKUP_MD_FLAG_TRACK_LOST */
};

int backup_meta_module_init(void);
void backup_meta_module_exit(void);
int backup_meta_open(struct block_device *bdev,
		     const struct backup_meta_geometry *geo,
		     unsigned int timeout_ms, struct backup_meta **metap,
		     char **error);
void backup_meta_close(struct backup_meta *meta);
bool backup_meta_has_job(struct backup_meta *meta);
bool backup_meta_increment_pending(struct backup_meta *meta);
void backup_meta_get_record(struct backup_meta *meta,
			    struct backup_meta_record *rec);
const unsigned long *backup_meta_copied(struct backup_meta *meta);
const unsigned long *backup_meta_changed(struct backup_meta *meta);
dev_t backup_meta_dev(struct backup_meta *meta);
int backup_meta_format(struct backup_meta *meta,
		       const struct backup_meta_record *rec,
		       const unsigned long *copied);
void backup_meta_set_copied(struct backup_meta *meta, unsigned long chunk,
			    unsigned int nr);
void backup_meta_set_changed(struct backup_meta *meta, unsigned long chunk);
int backup_meta_start_increment(struct backup_meta *meta,
				const struct backup_meta_record *rec,
				unsigned long *nr_unmapped);
int backup_meta_commit(struct backup_meta *meta,
		       const struct backup_meta_record *rec, bool super);

#endif /* DM_BACKUP_METADATA_H */
