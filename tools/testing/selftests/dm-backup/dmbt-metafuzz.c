// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbt-metafuzz: seeded mutations of a persistent job's metadata, each with
 * the verdict the kernel must reach (drivers/md/dm-backup-metadata.c).
 *
 *   dmbt-metafuzz <image> <seed> <case> <meta_sectors> <origin_sectors>
 *		   <backup_sectors> <chunk_sectors> <sync_mode>
 *	<image> holds a valid job's metadata (its first blocks, as read from
 *	the device).  Its newer superblock becomes block 0, block 1 is
 *	zeroed, and one field (or bitmap byte) of it is changed, as case
 *	<case> of <seed> says; the superblock's crc is then recomputed,
 *	except in some cases.  The image is rewritten in place, and one line
 *	printed, "accept||<change>" or "refuse|<error>|<change>": what a
 *	table naming a device with this image (<meta_sectors> long) and the
 *	given geometry must do, and for a refusal a part of the kernel's
 *	error message.
 *
 * Exit status: 0, or 2 on bad usage or an image without a valid superblock.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK		4096
#define MAGIC		0x4154454d4b424d44ULL
#define BITS_PER_BLOCK	(BLOCK * 8ULL)
#define MAX_ERRNO	4095
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Offsets in the superblock (struct backup_md_super, packed). */
enum {
	O_MAGIC = 0, O_CRC = 8, O_VERSION = 12, O_SEQ = 16, O_UUID = 24,
	O_PIT = 40, O_ORIGIN = 48, O_BACKUP = 56, O_CHUNK = 64, O_MODE = 68,
	O_STATE = 72, O_LAST_ERROR = 76, O_LAST_CHUNK = 80, O_NR_CHUNKS = 88,
	O_COPIED = 96, O_UNMAPPED = 104, O_CBW = 112, O_ZERO = 120,
	O_SRC_ERR = 128, O_TGT_ERR = 136, O_SKIPPED = 144, O_NR_BITMAPS = 152,
	O_BITMAPS = 160, BITMAP_SIZE = 24,
};

struct field {
	const char *name;
	unsigned int off;
	unsigned int size;
};

static const struct field fields[] = {
	{ "magic", O_MAGIC, 8 }, { "version", O_VERSION, 4 },
	{ "seq", O_SEQ, 8 }, { "uuid", O_UUID, 8 }, { "pit_ns", O_PIT, 8 },
	{ "origin_sectors", O_ORIGIN, 8 }, { "backup_sectors", O_BACKUP, 8 },
	{ "chunk_sectors", O_CHUNK, 4 }, { "sync_mode", O_MODE, 4 },
	{ "state", O_STATE, 4 }, { "last_error", O_LAST_ERROR, 4 },
	{ "last_error_chunk", O_LAST_CHUNK, 8 }, { "nr_chunks", O_NR_CHUNKS, 8 },
	{ "copied_chunks", O_COPIED, 8 }, { "unmapped_chunks", O_UNMAPPED, 8 },
	{ "cbw_chunks", O_CBW, 8 }, { "zero_chunks", O_ZERO, 8 },
	{ "source_errors", O_SRC_ERR, 8 }, { "target_errors", O_TGT_ERR, 8 },
	{ "skipped_chunks", O_SKIPPED, 8 }, { "nr_bitmaps", O_NR_BITMAPS, 4 },
	{ "bitmap0.kind", O_BITMAPS + 0, 4 },
	{ "bitmap0.first_block", O_BITMAPS + 8, 8 },
	{ "bitmap0.nr_blocks", O_BITMAPS + 16, 8 },
	{ "bitmap1.kind", O_BITMAPS + BITMAP_SIZE + 0, 4 },
	{ "bitmap1.first_block", O_BITMAPS + BITMAP_SIZE + 8, 8 },
	{ "bitmap1.nr_blocks", O_BITMAPS + BITMAP_SIZE + 16, 8 },
};

static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t c, n, k;

	for (n = 0; n < 256; n++) {
		c = n;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

/* IEEE CRC-32, as zlib's crc32() and the kernel's crc32_le(~0) ^ ~0. */
static uint32_t crc32_ieee(const unsigned char *p, size_t len)
{
	uint32_t c = ~0U;

	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

static uint64_t get(const unsigned char *sb, unsigned int off, unsigned int size)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < size; i++)
		v |= (uint64_t)sb[off + i] << (8 * i);
	return v;
}

static void put(unsigned char *sb, unsigned int off, unsigned int size,
		uint64_t v)
{
	unsigned int i;

	for (i = 0; i < size; i++)
		sb[off + i] = v >> (8 * i);
}

static void fix_crc(unsigned char *sb)
{
	put(sb, O_CRC, 4, 0);
	put(sb, O_CRC, 4, crc32_ieee(sb, BLOCK));
}

static int valid(unsigned char *sb)
{
	uint32_t crc = get(sb, O_CRC, 4);
	int ok;

	if (get(sb, O_MAGIC, 8) != MAGIC || get(sb, O_VERSION, 4) != 1)
		return 0;
	put(sb, O_CRC, 4, 0);
	ok = crc32_ieee(sb, BLOCK) == crc;
	put(sb, O_CRC, 4, crc);
	return ok && get(sb, O_SEQ, 8);
}

/* xorshift64*, seeded per (seed, case). */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* A value for a field of @size bytes that was @old: edges and noise. */
static uint64_t mutate_value(uint64_t old, unsigned int size)
{
	uint64_t max = size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;

	switch (rnd() % 9) {
	case 0: return 0;
	case 1: return max;
	case 2: return (old + 1) & max;
	case 3: return (old - 1) & max;
	case 4: return rnd() % 8;
	case 5: return old ^ (1ULL << (rnd() % (8 * size)));
	case 6: return (max >> 1) + 1;		/* the sign bit */
	case 7: return old * 2 & max;
	default: return rnd() & max;
	}
}

struct geometry {
	uint64_t meta_blocks, origin, backup, chunk, mode, nr_chunks, blocks;
};

static unsigned long count_bits(const unsigned char *img, size_t len,
				uint64_t first, uint64_t nr_chunks)
{
	unsigned long n = 0;
	uint64_t i;

	for (i = 0; i < nr_chunks; i++) {
		size_t byte = first * BLOCK + i / 8;

		if (byte < len && img[byte] & (1 << (i % 8)))
			n++;
	}
	return n;
}

/* The kernel's checks, in its order: the first that fails names it. */
static const char *verdict(unsigned char *img, size_t len,
			   const struct geometry *g)
{
	unsigned char *sb = img;
	uint64_t first = 0, n = g->nr_chunks, start, blocks;
	int32_t last_error;
	uint32_t i, nr, found = 0;

	if (!valid(sb))
		return "refuse|no valid dm-backup superblock";
	if (get(sb, O_ORIGIN, 8) != g->origin)
		return "refuse|another target length";
	if (get(sb, O_CHUNK, 4) != g->chunk)
		return "refuse|another chunk_size";
	if (get(sb, O_MODE, 4) != g->mode)
		return "refuse|another sync mode";
	if (get(sb, O_BACKUP, 8) != g->backup)
		return "refuse|backup device of another size";
	if (get(sb, O_NR_CHUNKS, 8) != n)
		return "refuse|another number of chunks";
	nr = get(sb, O_NR_BITMAPS, 4);
	if (nr > 4)
		return "refuse|too many bitmaps";
	for (i = 0; i < nr; i++) {
		unsigned int d = O_BITMAPS + i * BITMAP_SIZE;

		start = get(sb, d + 8, 8);
		blocks = get(sb, d + 16, 8);
		if (start < 2 || start > g->meta_blocks ||
		    blocks > g->meta_blocks - start)
			return "refuse|bitmap lies outside";
		if (get(sb, d, 4) != 1)
			continue;
		if (found || blocks != g->blocks)
			return "refuse|copied bitmap does not fit";
		first = start;
		found = 1;
	}
	if (!found)
		return "refuse|no copied bitmap";
	if (get(sb, O_STATE, 4) > 4)
		return "refuse|unknown job state";
	last_error = (int32_t)get(sb, O_LAST_ERROR, 4);
	if (last_error > 0 || last_error < -MAX_ERRNO ||
	    get(sb, O_LAST_CHUNK, 8) > n || get(sb, O_UNMAPPED, 8) > n ||
	    get(sb, O_CBW, 8) > n || get(sb, O_ZERO, 8) > n ||
	    get(sb, O_SKIPPED, 8) > n)
		return "refuse|counters out of range";
	if (count_bits(img, len, first, n) < get(sb, O_UNMAPPED, 8))
		return "refuse|fewer bits than unmapped";
	return "accept|";
}

int main(int argc, char **argv)
{
	static unsigned char img[64 * BLOCK];
	struct geometry g;
	unsigned long long seed, kase;
	const struct field *f;
	size_t len;
	FILE *fp;
	int crc_kept = 1;

	if (argc != 9) {
		fprintf(stderr, "usage: dmbt-metafuzz <image> <seed> <case> <meta_sectors>\n"
			"       <origin_sectors> <backup_sectors> <chunk_sectors> <sync_mode>\n");
		return 2;
	}
	seed = strtoull(argv[2], NULL, 0);
	kase = strtoull(argv[3], NULL, 0);
	g.meta_blocks = strtoull(argv[4], NULL, 0) / (BLOCK / 512);
	g.origin = strtoull(argv[5], NULL, 0);
	g.backup = strtoull(argv[6], NULL, 0);
	g.chunk = strtoull(argv[7], NULL, 0);
	g.mode = strtoull(argv[8], NULL, 0);
	if (!g.chunk) {
		fprintf(stderr, "dmbt-metafuzz: chunk_sectors 0\n");
		return 2;
	}
	g.nr_chunks = (g.origin + g.chunk - 1) / g.chunk;
	g.blocks = (g.nr_chunks + BITS_PER_BLOCK - 1) / BITS_PER_BLOCK;
	crc_init();

	fp = fopen(argv[1], "r+b");
	if (!fp) {
		perror(argv[1]);
		return 2;
	}
	len = fread(img, 1, sizeof(img), fp);
	if (len < 3 * BLOCK) {
		fprintf(stderr, "dmbt-metafuzz: %s: too short\n", argv[1]);
		return 2;
	}
	/* The newer valid superblock to block 0, block 1 zero. */
	if (valid(img + BLOCK) &&
	    (!valid(img) || get(img + BLOCK, O_SEQ, 8) > get(img, O_SEQ, 8)))
		memcpy(img, img + BLOCK, BLOCK);
	memset(img + BLOCK, 0, BLOCK);
	if (!valid(img)) {
		fprintf(stderr, "dmbt-metafuzz: %s: no valid superblock\n", argv[1]);
		return 2;
	}

	rng_state = (seed * 0x9e3779b97f4a7c15ULL) ^ (kase + 1) * 0xbf58476d1ce4e5b9ULL;
	if (!rng_state)
		rng_state = 1;
	rnd();
	if (rnd() % 8 == 0) {
		/* A byte of the bitmap: any bits are a job's bits. */
		size_t at = 2 * BLOCK + rnd() % (len - 2 * BLOCK);

		img[at] ^= 1 + rnd() % 255;
		printf("%s|bitmap byte %zu\n", verdict(img, len, &g), at);
	} else {
		f = &fields[rnd() % ARRAY_SIZE(fields)];
		put(img, f->off, f->size, mutate_value(get(img, f->off, f->size), f->size));
		crc_kept = rnd() % 10 != 0;
		if (crc_kept)
			fix_crc(img);
		printf("%s|%s=%llu%s\n", verdict(img, len, &g), f->name,
		       (unsigned long long)get(img, f->off, f->size),
		       crc_kept ? "" : " (crc not updated)");
	}
	rewind(fp);
	if (fwrite(img, 1, len, fp) != len || fclose(fp)) {
		perror(argv[1]);
		return 2;
	}
	return 0;
}
