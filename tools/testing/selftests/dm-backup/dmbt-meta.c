// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbt-meta - write a dm-backup metadata superblock (and its copied bitmap)
 * onto a device or file, for the tests of `dmbackup info` and `start
 * --meta` that need a job the kernel did not write (an ended job, a corrupt
 * superblock, a bitmap out of range).  The format: dm-backup-metadata.h.
 *
 *   dmbt-meta <dev> [key=value...]
 *
 * keys (default): sb (0) the superblock block, 0 or 1; seq (1); state (2,
 * completed); mode (0, full); chunk (128) sectors; origin (131072) sectors;
 * chunks (origin / chunk, rounded up); copied (chunks): bits set, from
 * chunk 0; unmapped (0); last_error (0); version (1); magic (1: 0 writes a
 * wrong one); crc (1: 0 writes a wrong one); bm_first (2) and bm_blocks
 * (what the chunks need) of the copied bitmap; pit (1795000000 s).
 */
#include <assert.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096

struct bm {
	__u32 kind, flags;
	__u64 first_block, nr_blocks;
};

/* No padding anywhere: every field is at its natural alignment. */
struct super {
	__u64 magic;
	__u32 crc, version;
	__u64 seq;
	__u8 uuid[16];
	__u64 pit_ns, origin_sectors, backup_sectors;
	__u32 chunk_sectors, sync_mode, state, last_error;
	__u64 last_error_chunk, nr_chunks, copied_chunks, unmapped_chunks;
	__u64 cbw_chunks, zero_chunks, source_errors, target_errors;
	__u64 skipped_chunks;
	__u32 nr_bitmaps, reserved;
	struct bm bitmaps[4];
};

static_assert(sizeof(struct super) == 256, "not the kernel's superblock");

static __u32 crc32_ieee(const __u8 *p, size_t len)
{
	__u32 c = 0xffffffffU;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffU;
}

static long long val(int argc, char **argv, const char *key, long long def)
{
	size_t len = strlen(key);

	for (int i = 2; i < argc; i++)
		if (!strncmp(argv[i], key, len) && argv[i][len] == '=')
			return strtoll(argv[i] + len + 1, NULL, 0);
	return def;
}

int main(int argc, char **argv)
{
	__u8 block[BLOCK] = { 0 }, *bitmap;
	struct super *s = (void *)block;
	long long origin, chunk, chunks, copied, bm_blocks, sb;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: dmbt-meta <dev> [key=value...]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (!strchr(argv[i], '=')) {
			fprintf(stderr, "dmbt-meta: %s: not key=value\n", argv[i]);
			return 2;
		}
	origin = val(argc, argv, "origin", 131072);
	chunk = val(argc, argv, "chunk", 128);
	chunks = val(argc, argv, "chunks", (origin + chunk - 1) / chunk);
	copied = val(argc, argv, "copied", chunks);
	bm_blocks = val(argc, argv, "bm_blocks", (chunks + BLOCK * 8 - 1) / (BLOCK * 8));
	sb = val(argc, argv, "sb", 0);

	s->magic = htole64(val(argc, argv, "magic", 1) ? 0x4154454d4b424d44ULL : 1);
	s->version = htole32(val(argc, argv, "version", 1));
	s->seq = htole64(val(argc, argv, "seq", 1));
	for (int i = 0; i < 16; i++)
		s->uuid[i] = 0xa0 + i;
	s->pit_ns = htole64(val(argc, argv, "pit", 1795000000) * 1000000000ULL + 123);
	s->origin_sectors = htole64(origin);
	s->backup_sectors = htole64(origin);
	s->chunk_sectors = htole32(chunk);
	s->sync_mode = htole32(val(argc, argv, "mode", 0));
	s->state = htole32(val(argc, argv, "state", 2));
	s->last_error = htole32((__u32)val(argc, argv, "last_error", 0));
	s->nr_chunks = htole64(chunks);
	s->copied_chunks = htole64(copied);
	s->unmapped_chunks = htole64(val(argc, argv, "unmapped", 0));
	s->nr_bitmaps = htole32(1);
	s->bitmaps[0].kind = htole32(1);
	s->bitmaps[0].first_block = htole64(val(argc, argv, "bm_first", 2));
	s->bitmaps[0].nr_blocks = htole64(bm_blocks);
	s->crc = htole32(crc32_ieee(block, BLOCK) ^ (val(argc, argv, "crc", 1) ? 0 : 1));

	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	if (pwrite(fd, block, BLOCK, sb * BLOCK) != BLOCK) {
		perror("dmbt-meta: writing the superblock");
		return 1;
	}
	bitmap = calloc(bm_blocks ? bm_blocks : 1, BLOCK);
	if (!bitmap)
		return 1;
	for (long long i = 0; i < copied && i < bm_blocks * BLOCK * 8; i++)
		bitmap[i / 8] |= 1U << (i % 8);
	/* A bitmap out of range is not written (it would grow a file). */
	if (val(argc, argv, "bm_write", 1) &&
	    pwrite(fd, bitmap, bm_blocks * BLOCK,
		   val(argc, argv, "bm_first", 2) * BLOCK) != bm_blocks * BLOCK) {
		perror("dmbt-meta: writing the bitmap");
		return 1;
	}
	free(bitmap);
	return close(fd) ? 1 : 0;
}
