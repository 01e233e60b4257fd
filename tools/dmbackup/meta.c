// SPDX-License-Identifier: GPL-2.0-only
/*
 * The metadata device of a persistent job, read offline: plain reads of
 * the device (or of an image file), no kernel module.  info prints what
 * meta_read() finds, start decides from it whether it starts a new job or
 * continues one, and probe.c recognises a superblock on a backup device.
 *
 * The format is the kernel's: drivers/md/dm-backup-metadata.h is the source
 * of truth, struct md_super below a copy of its struct backup_md_super (a
 * user-space program cannot include a header built on <linux/types.h>'s
 * __le64 and the kernel's __packed cleanly).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dmbackup.h"

/* ---- the on-disk format (drivers/md/dm-backup-metadata.h) --------------- */

#define MD_MAGIC		0x4154454d4b424d44ULL	/* "DMBKMETA" */
#define MD_VERSION		1
#define MD_MAX_BITMAPS		4
#define MD_BITMAP_NONE		0
/* The kinds (MD_BITMAP_COPIED...) are in dmbackup.h. */
#define MD_FLAG_TRACK		0x1
#define MD_FLAG_TRACK_LOST	0x2
#define MD_FLAGS		(MD_FLAG_TRACK | MD_FLAG_TRACK_LOST)
/* With tracking: four bitmap areas of the same size from block 2. */
#define MD_TRACK_AREAS		4

struct md_bitmap {
	uint32_t kind;
	uint32_t flags;
	uint64_t first_block;
	uint64_t nr_blocks;
} __attribute__((packed));

/* All fields little endian, as on the disk. */
struct md_super {
	uint64_t magic;
	uint32_t crc;
	uint32_t version;
	uint64_t seq;
	uint8_t uuid[16];
	uint64_t pit_ns;
	uint64_t origin_sectors;
	uint64_t backup_sectors;
	uint32_t chunk_sectors;
	uint32_t sync_mode;
	uint32_t state;
	uint32_t last_error;
	uint64_t last_error_chunk;
	uint64_t nr_chunks;
	uint64_t copied_chunks;
	uint64_t unmapped_chunks;
	uint64_t cbw_chunks;
	uint64_t zero_chunks;
	uint64_t source_errors;
	uint64_t target_errors;
	uint64_t skipped_chunks;
	uint32_t nr_bitmaps;
	uint32_t flags;			/* MD_FLAG_* */
	struct md_bitmap bitmaps[MD_MAX_BITMAPS];
	uint8_t parent_uuid[16];	/* an increment: its parent; else 0 */
} __attribute__((packed));

/* The kernel's struct is 272 bytes: a field added there must be added here. */
_Static_assert(sizeof(struct md_super) == 272, "struct md_super is not the kernel's");
_Static_assert(offsetof(struct md_super, crc) == 8, "crc moved");
_Static_assert(offsetof(struct md_super, flags) == 156, "flags moved");
_Static_assert(offsetof(struct md_super, bitmaps) == 160, "bitmaps moved");
_Static_assert(offsetof(struct md_super, parent_uuid) == 256, "parent_uuid moved");

/* ---- crc32 (IEEE, as zlib's crc32()) ------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffU;

	if (!crc_table[1])
		crc_init();
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

/* ---- names --------------------------------------------------------------- */

const char *meta_state_name(uint32_t state)
{
	static const char *const names[] = {
		"running", "paused", "completed", "failed", "cancelled",
	};

	return state < ARRAY_SIZE(names) ? names[state] : NULL;
}

const char *meta_mode_name(uint32_t mode)
{
	static const char *const names[] = { "full", "top", "none" };

	return mode < ARRAY_SIZE(names) ? names[mode] : NULL;
}

bool meta_job_ended(const struct meta_job *j)
{
	return j->state != MD_STATE_RUNNING && j->state != MD_STATE_PAUSED;
}

void meta_uuid_str(const uint8_t uuid[16], char *buf)
{
	char *p = buf;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", uuid[i]);
	}
}

/* meta_pit_str - the point in time as UTC ISO 8601 with nanoseconds. */
void meta_pit_str(uint64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	char date[32];

	if (!gmtime_r(&secs, &tm) ||
	    !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%s.%09" PRIu64 "Z", date, (uint64_t)(ns % 1000000000ULL));
}

/*
 * meta_min_bytes - the kernel's size rule: two superblocks, then two
 * bitmaps, or with @track the four areas a tracking job and its next
 * increment use.
 */
uint64_t meta_min_bytes(uint64_t nr_chunks, bool track)
{
	return 2 * MD_BLOCK_SIZE + (track ? MD_TRACK_AREAS : 2) *
	       ((nr_chunks + MD_BITS_PER_BLOCK - 1) / MD_BITS_PER_BLOCK) *
	       MD_BLOCK_SIZE;
}

/* ---- reading ------------------------------------------------------------- */

/* meta_has_magic - @block (4 KiB) starts with the metadata's magic. */
bool meta_has_magic(const void *block)
{
	uint64_t m;

	memcpy(&m, block, sizeof(m));
	return le64toh(m) == MD_MAGIC;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

/*
 * check_super - is @block a valid superblock?  If not, @why says what is
 * wrong with it.
 */
static bool check_super(const uint8_t *block, char *why, size_t len)
{
	const struct md_super *s = (const void *)block;
	uint8_t copy[MD_BLOCK_SIZE];
	uint32_t stored, crc;

	if (all_zero(block, MD_BLOCK_SIZE)) {
		snprintf(why, len, "all zeroes");
		return false;
	}
	if (le64toh(s->magic) != MD_MAGIC) {
		snprintf(why, len, "bad magic");
		return false;
	}
	if (le32toh(s->version) != MD_VERSION) {
		snprintf(why, len, "unknown version %" PRIu32 " (this dmbackup reads %d)",
			 le32toh(s->version), MD_VERSION);
		return false;
	}
	memcpy(copy, block, MD_BLOCK_SIZE);
	memset(copy + offsetof(struct md_super, crc), 0, sizeof(s->crc));
	stored = le32toh(s->crc);
	crc = crc32_ieee(copy, MD_BLOCK_SIZE);
	if (crc != stored) {
		snprintf(why, len, "bad crc (stored %08" PRIx32 ", computed %08" PRIx32 ")",
			 stored, crc);
		return false;
	}
	return true;
}

/*
 * meta_open - open the metadata device with O_DIRECT: the kernel writes it
 * with bios, past the page cache, which may hold older blocks of it (read
 * or written before).  A file on a file system without O_DIRECT (tmpfs)
 * is read through the cache, which is where its writes went too.
 */
int meta_open(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC);

	if (fd < 0 && errno == EINVAL)
		fd = open(path, flags | O_CLOEXEC);
	return fd;
}

/* meta_block_uuid - the job uuid of a block that has the magic. */
void meta_block_uuid(const void *block, char *buf)
{
	meta_uuid_str(((const struct md_super *)block)->uuid, buf);
}

/* device_bytes - the size of a block device or a file. */
bool device_bytes(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return false;
	if (S_ISBLK(st.st_mode))
		return !ioctl(fd, BLKGETSIZE64, bytes);
	*bytes = st.st_size;
	return true;
}

/* read_all - pread @len bytes at @off; false (errno set) on a short read. */
static bool read_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (!n) {
			errno = ENODATA;
			return false;
		}
		done += n;
	}
	return true;
}

static const char *const kind_names[] = {
	[MD_BITMAP_COPIED] = "copied", [MD_BITMAP_CHANGED] = "changed",
	[MD_BITMAP_MAP] = "map",
};

/*
 * scan_bitmap - count the set bits of bitmap @b for chunks below
 * @nr_chunks (bits past the last chunk are not counted) into *@count, and
 * if @run is given, call it for every run of set bits, in order.
 */
static enum meta_result scan_bitmap(int fd, const struct md_bitmap *b,
				    uint64_t nr_chunks, uint64_t *count,
				    void (*run)(uint64_t first, uint64_t n,
						void *ctx),
				    void *ctx, char *why, size_t len)
{
	uint64_t first = le64toh(b->first_block), bit = 0, run_start = 0;
	bool in_run = false;
	uint8_t *buf;

	if (posix_memalign((void **)&buf, MD_BLOCK_SIZE, MD_BLOCK_SIZE)) {
		snprintf(why, len, "out of memory");
		return META_IOERR;
	}
	*count = 0;
	for (uint64_t blk = 0; bit < nr_chunks; blk++) {
		if (!read_all(fd, buf, MD_BLOCK_SIZE, (first + blk) * MD_BLOCK_SIZE)) {
			snprintf(why, len, "cannot read block %" PRIu64 " of the %s "
				 "bitmap: %s", first + blk,
				 kind_names[le32toh(b->kind)], strerror(errno));
			free(buf);
			return META_IOERR;
		}
		for (size_t i = 0; i < MD_BLOCK_SIZE && bit < nr_chunks; i++) {
			uint8_t v = buf[i];

			if (nr_chunks - bit < 8)
				v &= (1U << (nr_chunks - bit)) - 1;
			*count += __builtin_popcount(v);
			/* Whole bytes that do not end a run: skip them. */
			if (!run || (v == 0xff && in_run) || (!v && !in_run)) {
				bit += 8;
				continue;
			}
			for (int k = 0; k < 8 && bit < nr_chunks; k++, bit++) {
				bool set = v & (1U << k);

				if (set && !in_run)
					run_start = bit;
				else if (!set && in_run)
					run(run_start, bit - run_start, ctx);
				in_run = set;
			}
		}
	}
	if (run && in_run)
		run(run_start, nr_chunks - run_start, ctx);
	free(buf);
	return META_JOB;
}

/*
 * check_bitmaps - the bitmaps the superblock describes lie inside the
 * device, past the superblocks, have a bit per chunk, one of each kind at
 * most, and a copied one; with the track flag a changed one too.
 * @by_kind[kind] is the bitmap of that kind, or NULL.
 */
static bool check_bitmaps(const struct md_super *s, uint64_t dev_blocks,
			  const struct md_bitmap *by_kind[MD_MAX_BITMAPS],
			  char *why, size_t len)
{
	uint32_t n = le32toh(s->nr_bitmaps);
	uint64_t nr_chunks = le64toh(s->nr_chunks);

	memset(by_kind, 0, MD_MAX_BITMAPS * sizeof(*by_kind));
	if (n > MD_MAX_BITMAPS) {
		snprintf(why, len, "%" PRIu32 " bitmaps (at most %d)", n, MD_MAX_BITMAPS);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct md_bitmap *b = &s->bitmaps[i];
		uint64_t first = le64toh(b->first_block), nr = le64toh(b->nr_blocks);
		uint32_t kind = le32toh(b->kind);

		if (kind == MD_BITMAP_NONE)
			continue;
		if (kind >= ARRAY_SIZE(kind_names)) {
			snprintf(why, len, "bitmap %" PRIu32 " has an unknown kind %" PRIu32,
				 i, kind);
			return false;
		}
		if (first < 2 || nr > dev_blocks || first > dev_blocks - nr) {
			snprintf(why, len, "bitmap %" PRIu32 " out of range: blocks %" PRIu64
				 "+%" PRIu64 ", the device has %" PRIu64 " blocks of 4 KiB",
				 i, first, nr, dev_blocks);
			return false;
		}
		if (by_kind[kind]) {
			snprintf(why, len, "two %s bitmaps", kind_names[kind]);
			return false;
		}
		if (nr < (nr_chunks + MD_BITS_PER_BLOCK - 1) / MD_BITS_PER_BLOCK) {
			snprintf(why, len, "the %s bitmap (%" PRIu64 " blocks) is "
				 "too short for %" PRIu64 " chunks", kind_names[kind],
				 nr, nr_chunks);
			return false;
		}
		by_kind[kind] = b;
	}
	if (!by_kind[MD_BITMAP_COPIED]) {
		snprintf(why, len, "no copied bitmap");
		return false;
	}
	if (le32toh(s->flags) & ~MD_FLAGS) {
		snprintf(why, len, "unknown flags %#" PRIx32, le32toh(s->flags));
		return false;
	}
	if (!(le32toh(s->flags) & MD_FLAG_TRACK) != !by_kind[MD_BITMAP_CHANGED]) {
		snprintf(why, len, "the track flag and the changed bitmap disagree");
		return false;
	}
	return true;
}

/* fill_job - the job of superblock @s (valid) in host order. */
static void fill_job(struct meta_job *j, const struct md_super *s, int sb)
{
	memset(j, 0, sizeof(*j));
	j->sb = sb;
	j->seq = le64toh(s->seq);
	memcpy(j->uuid, s->uuid, sizeof(j->uuid));
	j->pit_ns = le64toh(s->pit_ns);
	j->origin_sectors = le64toh(s->origin_sectors);
	j->backup_sectors = le64toh(s->backup_sectors);
	j->chunk_sectors = le32toh(s->chunk_sectors);
	j->sync_mode = le32toh(s->sync_mode);
	j->state = le32toh(s->state);
	j->last_error = (int32_t)le32toh(s->last_error);
	j->last_error_chunk = le64toh(s->last_error_chunk);
	j->nr_chunks = le64toh(s->nr_chunks);
	j->sb_copied = le64toh(s->copied_chunks);
	j->unmapped = le64toh(s->unmapped_chunks);
	j->cbw = le64toh(s->cbw_chunks);
	j->zero = le64toh(s->zero_chunks);
	j->source_errors = le64toh(s->source_errors);
	j->target_errors = le64toh(s->target_errors);
	j->skipped = le64toh(s->skipped_chunks);
	j->track = le32toh(s->flags) & MD_FLAG_TRACK;
	j->track_lost = le32toh(s->flags) & MD_FLAG_TRACK_LOST;
	memcpy(j->parent_uuid, s->parent_uuid, sizeof(j->parent_uuid));
	j->increment = !all_zero(s->parent_uuid, sizeof(s->parent_uuid));
}

/*
 * meta_read - read the job on the metadata device (or image) @path into
 * @j.  Returns META_JOB, META_EMPTY (both superblocks all zeroes: no job),
 * META_CORRUPT or META_IOERR; for the last two, @why says what is wrong.
 */
enum meta_result meta_read(const char *path, struct meta_job *j,
			   char *why, size_t len)
{
	uint8_t *blocks = NULL;
	char why_sb[2][160];
	const struct md_super *best = NULL;
	const struct md_bitmap *by_kind[MD_MAX_BITMAPS];
	enum meta_result r = META_IOERR;
	uint64_t bytes, count;
	int fd, sb = -1;

	*why = '\0';
	fd = meta_open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return META_IOERR;
	}
	if (!device_bytes(fd, &bytes)) {
		snprintf(why, len, "cannot get its size: %s", strerror(errno));
		goto out;
	}
	if (posix_memalign((void **)&blocks, MD_BLOCK_SIZE, 2 * MD_BLOCK_SIZE)) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	if (bytes < 2 * MD_BLOCK_SIZE) {
		/* What is there may all be zeroes: still no room for a job. */
		snprintf(why, len, "truncated: %" PRIu64 " bytes, the two superblocks "
			 "alone take %d", bytes, 2 * MD_BLOCK_SIZE);
		r = META_CORRUPT;
		goto out;
	}
	if (!read_all(fd, blocks, 2 * MD_BLOCK_SIZE, 0)) {
		snprintf(why, len, "cannot read its superblocks: %s", strerror(errno));
		goto out;
	}
	if (all_zero(blocks, 2 * MD_BLOCK_SIZE)) {
		r = META_EMPTY;
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		const struct md_super *s = (const void *)(blocks + i * MD_BLOCK_SIZE);

		if (!check_super(blocks + i * MD_BLOCK_SIZE, why_sb[i], sizeof(why_sb[i])))
			continue;
		if (!best || le64toh(s->seq) > le64toh(best->seq)) {
			best = s;
			sb = i;
		}
	}
	r = META_CORRUPT;
	if (!best) {
		snprintf(why, len, "no valid superblock: block 0: %s; block 1: %s",
			 why_sb[0], why_sb[1]);
		goto out;
	}
	fill_job(j, best, sb);
	if (!meta_state_name(j->state)) {
		snprintf(why, len, "superblock %d: unknown state %" PRIu32, sb, j->state);
		goto out;
	}
	if (!meta_mode_name(j->sync_mode)) {
		snprintf(why, len, "superblock %d: unknown sync mode %" PRIu32, sb,
			 j->sync_mode);
		goto out;
	}
	if (!j->chunk_sectors || (j->chunk_sectors & (j->chunk_sectors - 1)) ||
	    !j->nr_chunks || j->unmapped > j->nr_chunks) {
		snprintf(why, len, "superblock %d: impossible geometry: chunk size %"
			 PRIu32 " sectors, %" PRIu64 " chunks, %" PRIu64 " unmapped",
			 sb, j->chunk_sectors, j->nr_chunks, j->unmapped);
		goto out;
	}
	if (!check_bitmaps(best, bytes / MD_BLOCK_SIZE, by_kind, why_sb[0],
			   sizeof(why_sb[0]))) {
		snprintf(why, len, "superblock %d: %s", sb, why_sb[0]);
		goto out;
	}
	for (int k = MD_BITMAP_COPIED; k < MD_MAX_BITMAPS; k++) {
		if (!by_kind[k])
			continue;
		j->bitmap_first[k] = le64toh(by_kind[k]->first_block);
		j->bitmap_blocks[k] = le64toh(by_kind[k]->nr_blocks);
		r = scan_bitmap(fd, by_kind[k], j->nr_chunks, &j->bitmap_count[k],
				NULL, NULL, why, len);
		if (r != META_JOB)
			goto out;
	}
	count = j->bitmap_count[MD_BITMAP_COPIED];
	j->bitmap_set = count;
	/* Top mode: the chunks the map left out count as copied in the bitmap. */
	j->copied = count > j->unmapped ? count - j->unmapped : 0;
	j->total = j->nr_chunks - j->unmapped;
out:
	free(blocks);
	close(fd);
	return r;
}

/* The bitmap kinds meta_list() takes: "changed", "map". */
int meta_bitmap_kind(const char *name)
{
	for (size_t k = MD_BITMAP_CHANGED; k < ARRAY_SIZE(kind_names); k++)
		if (!strcmp(name, kind_names[k]))
			return (int)k;
	return -1;
}

struct list_ctx {
	FILE *f;
	uint64_t chunk_bytes, dev_bytes;
};

/* One run of chunks as "<offset> <length>" in bytes, the last one cut at
 * the end of the volume (its last chunk may be partial). */
static void list_run(uint64_t first, uint64_t n, void *ctx)
{
	struct list_ctx *l = ctx;
	uint64_t off = first * l->chunk_bytes, len = n * l->chunk_bytes;

	if (off + len > l->dev_bytes)
		len = l->dev_bytes - off;
	fprintf(l->f, "%" PRIu64 " %" PRIu64 "\n", off, len);
}

/*
 * meta_list - write the chunks set in the bitmap of @kind of job @j (read
 * by meta_read() from @path) to @f as byte ranges of the volume, one
 * "<offset> <length>" line per run of chunks.  False with @why if the
 * bitmap is not there or cannot be read.
 */
bool meta_list(const char *path, const struct meta_job *j, int kind, FILE *f,
	       char *why, size_t len)
{
	struct list_ctx l = { f, j->chunk_sectors * 512ULL, j->origin_sectors * 512 };
	struct md_bitmap b = { 0 };
	uint64_t count;
	int fd;
	bool ok;

	if (kind <= 0 || kind >= MD_MAX_BITMAPS || !j->bitmap_first[kind]) {
		snprintf(why, len, "the job has no %s bitmap%s", kind > 0 &&
			 kind < MD_MAX_BITMAPS ? kind_names[kind] : "such",
			 kind == MD_BITMAP_MAP ? " (it is not an increment)" :
			 kind == MD_BITMAP_CHANGED ? " (it does not track changes)" : "");
		return false;
	}
	fd = meta_open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return false;
	}
	b.kind = htole32(kind);
	b.first_block = htole64(j->bitmap_first[kind]);
	b.nr_blocks = htole64(j->bitmap_blocks[kind]);
	ok = scan_bitmap(fd, &b, j->nr_chunks, &count, list_run, &l, why,
			 len) == META_JOB;
	close(fd);
	return ok;
}

/*
 * meta_list_file - meta_list() into the file @file, or standard output if
 * @file is "-": the --list FILE of start --incremental and export.  Says
 * why not (as "--list FILE: ..."); a file it created is removed then, so
 * that a backup program never reads a partial list.
 */
bool meta_list_file(const char *file, const char *path,
		    const struct meta_job *j, int kind)
{
	bool out = !strcmp(file, "-");
	FILE *f = out ? stdout : fopen(file, "w");
	char why[256];
	bool ok;

	if (!f) {
		err("--list %s: %s", file, strerror(errno));
		return false;
	}
	ok = meta_list(path, j, kind, f, why, sizeof(why));
	if (!ok)
		err("--list %s: %s", file, why);
	if ((out ? fflush(f) : fclose(f)) && ok) {
		err("--list %s: %s", file, strerror(errno));
		ok = false;
	}
	if (!ok && !out)
		unlink(file);
	return ok;
}
