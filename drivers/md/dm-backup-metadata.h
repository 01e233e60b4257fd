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
 * A device whose superblocks are both all zeroes holds no job: the first
 * resume of a table naming it formats it.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#ifndef DM_BACKUP_METADATA_H
#define DM_BACKUP_METADATA_H

#include <linux/types.h>

#define BACKUP_MD_BLOCK_SIZE		4096
#define BACKUP_MD_BLOCK_SECTORS		(BACKUP_MD_BLOCK_SIZE >> SECTOR_SHIFT)
#define BACKUP_MD_BITS_PER_BLOCK	(BACKUP_MD_BLOCK_SIZE * 8)
/* "DMBKMETA" read as a little-endian 64-bit number. */
#define BACKUP_MD_MAGIC			0x4154454d4b424d44ULL
#define BACKUP_MD_VERSION		1
#define BACKUP_MD_NR_SUPERBLOCKS	2
#define BACKUP_MD_MAX_BITMAPS		4

enum backup_md_bitmap_kind {
	BACKUP_MD_BITMAP_NONE,
	BACKUP_MD_BITMAP_COPIED,	/* chunk on the backup device */
	BACKUP_MD_BITMAP_CHANGED,	/* reserved: written since the point in time */
};

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
	__le32 reserved;
	struct backup_md_bitmap bitmaps[BACKUP_MD_MAX_BITMAPS];
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
};

int backup_meta_open(struct block_device *bdev,
		     const struct backup_meta_geometry *geo,
		     struct backup_meta **metap, char **error);
void backup_meta_close(struct backup_meta *meta);
bool backup_meta_has_job(struct backup_meta *meta);
void backup_meta_get_record(struct backup_meta *meta,
			    struct backup_meta_record *rec);
const unsigned long *backup_meta_copied(struct backup_meta *meta);
dev_t backup_meta_dev(struct backup_meta *meta);
int backup_meta_format(struct backup_meta *meta,
		       const struct backup_meta_record *rec,
		       const unsigned long *copied);
void backup_meta_set_copied(struct backup_meta *meta, unsigned long chunk,
			    unsigned int nr);
int backup_meta_commit(struct backup_meta *meta,
		       const struct backup_meta_record *rec, bool super);

#endif /* DM_BACKUP_METADATA_H */
