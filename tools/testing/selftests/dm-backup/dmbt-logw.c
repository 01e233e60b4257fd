// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbt-logw: issue writes and flushes, and read dm-log-writes logs, for
 * the flush/FUA selftest of dm-backup.
 *
 *   dmbt-logw write <dev> <byte_offset> <data_file> direct|fua
 *	One pwrite() of the whole file at the offset, with O_DIRECT (direct)
 *	or O_DIRECT|O_DSYNC (fua: a block device turns that into a REQ_FUA
 *	bio, followed by an empty flush from the sync of the write).
 *
 *   dmbt-logw flush <dev>
 *	fsync() of the block device: an empty REQ_PREFLUSH bio.
 *
 *   dmbt-logw dump <logdev>
 *	One line per log entry (Documentation/admin-guide/device-mapper/
 *	log-writes.rst; struct log_write_super/entry in dm-log-writes.c):
 *	    <idx> <kind> <sector> <nr_sectors> <flags> <crc32> <mark>
 *	kind is data, flush (no data), discard or mark; sector and
 *	nr_sectors are in 512-byte units; flags is a comma list of flush,
 *	fua, discard, meta (or -); crc32 is of the data (- without data);
 *	mark is the text of the last mark before the entry (- before any),
 *	or the mark's own text on a mark line.
 *
 *   dmbt-logw check <logdev> <image>
 *	Every data entry must equal <image> at the same offset.
 *
 *   dmbt-logw replay <logdev> <image> [<from_mark> <to_mark>]
 *	Apply data entries (and discards, as zeroes) to <image> in order;
 *	with marks, only those after the mark <from_mark> ("-": from the
 *	start) and before the mark <to_mark> ("-": to the end): the device
 *	as a crash at <to_mark> leaves it, from its state at <from_mark>.
 *	Fails if a named mark is not in the log.
 *
 * Read the log device only after its log-writes table is removed: the
 * entry count in the super block is complete then.  Exit status 0 on
 * success, 1 on error or mismatch, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_FLUSH_FLAG		0x01
#define LOG_FUA_FLAG		0x02
#define LOG_DISCARD_FLAG	0x04
#define LOG_MARK_FLAG		0x08
#define LOG_METADATA_FLAG	0x10
#define WRITE_LOG_MAGIC		0x6a736677736872ULL
#define WRITE_LOG_VERSION	1ULL

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* The on-disk records of dm-log-writes, without padding. */
#pragma pack(push, 1)
struct log_write_super {
	unsigned long long magic;
	unsigned long long version;
	unsigned long long nr_entries;
	uint32_t sectorsize;
};

struct log_write_entry {
	unsigned long long sector;
	unsigned long long nr_sectors;
	unsigned long long flags;
	unsigned long long data_len;
};

#pragma pack(pop)

static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32(const unsigned char *p, size_t len)
{
	uint32_t c = 0xffffffffU;

	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

static int full_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, off);
		if (n <= 0)
			return -1;
		buf = (char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len) {
		n = pwrite(fd, buf, len, off);
		if (n <= 0)
			return -1;
		buf = (const char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

static int cmd_write(int argc, char **argv)
{
	int flags = O_WRONLY | O_DIRECT, fd, dfd;
	unsigned long long off;
	struct stat st;
	void *buf;

	if (argc != 6)
		return 2;
	off = strtoull(argv[3], NULL, 0);
	if (!strcmp(argv[5], "fua"))
		flags |= O_DSYNC;
	else if (strcmp(argv[5], "direct"))
		return 2;
	dfd = open(argv[4], O_RDONLY);
	if (dfd < 0 || fstat(dfd, &st) || !st.st_size || st.st_size % 512) {
		fprintf(stderr, "dmbt-logw: %s: need a file of n * 512 bytes\n", argv[4]);
		return 1;
	}
	if (posix_memalign(&buf, 4096, st.st_size) ||
	    full_pread(dfd, buf, st.st_size, 0)) {
		perror("dmbt-logw: read data file");
		return 1;
	}
	fd = open(argv[2], flags);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	/* One syscall: one bio (the tests keep writes under 128 KiB). */
	if (pwrite(fd, buf, st.st_size, off) != st.st_size) {
		perror("dmbt-logw: pwrite");
		return 1;
	}
	if (close(fd)) {
		perror("dmbt-logw: close");
		return 1;
	}
	free(buf);
	close(dfd);
	return 0;
}

static int cmd_flush(int argc, char **argv)
{
	int fd;

	if (argc != 3)
		return 2;
	fd = open(argv[2], O_WRONLY);
	if (fd < 0 || fsync(fd) || close(fd)) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}

static void flags_str(unsigned long long f, char *out)
{
	static const struct { unsigned long long bit; const char *name; } names[] = {
		{ LOG_FLUSH_FLAG, "flush" }, { LOG_FUA_FLAG, "fua" },
		{ LOG_DISCARD_FLAG, "discard" }, { LOG_METADATA_FLAG, "meta" },
	};
	unsigned int i;

	*out = '\0';
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(f & names[i].bit))
			continue;
		if (*out)
			strcat(out, ",");
		strcat(out, names[i].name);
	}
	if (!*out)
		strcpy(out, "-");
}

enum mode { DUMP, CHECK, REPLAY };

/* Replay window: after mark @from (NULL: the start), until mark @to. */
struct window {
	const char *from;
	const char *to;
};

static int walk_log(const char *logdev, const char *image, enum mode mode,
		    const struct window *win)
{
	struct log_write_super super;
	struct log_write_entry e;
	unsigned char *blk, *data = NULL, *want = NULL;
	size_t data_cap = 0;
	char mark[512] = "-", fl[64];
	unsigned long long i, pos, ss, sector, nr, bytes;
	int fd, ifd = -1, bad = 0;
	unsigned long nr_data = 0;
	int applying = !win || !win->from, reached_to = !win || !win->to;

	fd = open(logdev, O_RDONLY);
	if (fd < 0) {
		perror(logdev);
		return 1;
	}
	/* Drop cached pages: read what log-writes wrote, not older reads. */
	ioctl(fd, BLKFLSBUF, 0);
	if (full_pread(fd, &super, sizeof(super), 0)) {
		perror("dmbt-logw: read super");
		return 1;
	}
	if (super.magic != WRITE_LOG_MAGIC || super.version != WRITE_LOG_VERSION ||
	    super.sectorsize < 512 || super.sectorsize % 512) {
		fprintf(stderr, "dmbt-logw: %s: not a log-writes log (magic %#llx)\n",
			logdev, super.magic);
		return 1;
	}
	ss = super.sectorsize;
	blk = malloc(ss);
	if (image) {
		ifd = open(image, mode == REPLAY ? O_RDWR : O_RDONLY);
		if (ifd < 0) {
			perror(image);
			return 1;
		}
	}
	pos = ss;	/* the first entry follows the super block */
	for (i = 0; i < super.nr_entries; i++) {
		if (full_pread(fd, blk, ss, pos)) {
			fprintf(stderr, "dmbt-logw: cannot read entry %llu\n", i);
			return 1;
		}
		memcpy(&e, blk, sizeof(e));
		pos += ss;
		sector = e.sector * (ss / 512);
		nr = e.nr_sectors * (ss / 512);
		flags_str(e.flags, fl);
		if (e.flags & LOG_MARK_FLAG) {
			size_t len = e.data_len < sizeof(mark) - 1 ? e.data_len :
				     sizeof(mark) - 1;

			if (len > ss - sizeof(e))
				len = ss - sizeof(e);
			memcpy(mark, blk + sizeof(e), len);
			mark[len] = '\0';
			if (mode == DUMP)
				printf("%llu mark 0 0 - - %s\n", i, mark);
			if (win && win->from && !strcmp(mark, win->from))
				applying = 1;
			if (win && win->to && !strcmp(mark, win->to)) {
				reached_to = 1;
				break;
			}
			continue;
		}
		if (e.flags & LOG_DISCARD_FLAG) {
			if (mode == DUMP)
				printf("%llu discard %llu %llu %s - %s\n",
				       i, sector, nr, fl, mark);
			if (mode == REPLAY && applying) {
				bytes = nr * 512;
				free(want);
				want = calloc(1, bytes);
				if (full_pwrite(ifd, want, bytes, sector * 512))
					bad = 1;
			}
			continue;
		}
		if (!e.nr_sectors) {
			if (mode == DUMP)
				printf("%llu flush 0 0 %s - %s\n", i, fl, mark);
			continue;
		}
		bytes = e.nr_sectors * ss;
		if (bytes > data_cap) {
			free(data);
			free(want);
			data = malloc(bytes);
			want = malloc(bytes);
			data_cap = bytes;
		}
		if (full_pread(fd, data, bytes, pos)) {
			fprintf(stderr, "dmbt-logw: cannot read data of entry %llu\n", i);
			return 1;
		}
		pos += bytes;
		nr_data++;
		switch (mode) {
		case DUMP:
			printf("%llu data %llu %llu %s %08x %s\n",
			       i, sector, nr, fl, crc32(data, bytes), mark);
			break;
		case CHECK:
			if (full_pread(ifd, want, bytes, sector * 512) ||
			    memcmp(want, data, bytes)) {
				fprintf(stderr, "dmbt-logw: entry %llu (sector %llu, ",
					i, sector);
				fprintf(stderr, "%llu sectors, after mark %s): ", nr, mark);
				fprintf(stderr, "data differs from %s\n", image);
				bad = 1;
			}
			break;
		case REPLAY:
			if (applying && full_pwrite(ifd, data, bytes, sector * 512)) {
				perror("dmbt-logw: replay write");
				bad = 1;
			}
			break;
		}
	}
	if (!applying || !reached_to) {
		fprintf(stderr, "dmbt-logw: %s: mark %s not in the log\n", logdev,
			!applying ? win->from : win->to);
		bad = 1;
	}
	if (mode != DUMP)
		fprintf(stderr, "dmbt-logw: %s: %llu entries, %lu with data%s\n",
			logdev, super.nr_entries, nr_data, bad ? ", MISMATCH" : "");
	if (ifd >= 0 && close(ifd))
		bad = 1;
	free(blk);
	free(data);
	free(want);
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	int r = 2;

	crc_init();
	if (argc > 1 && !strcmp(argv[1], "write"))
		r = cmd_write(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "flush"))
		r = cmd_flush(argc, argv);
	else if (argc == 3 && !strcmp(argv[1], "dump"))
		r = walk_log(argv[2], NULL, DUMP, NULL);
	else if (argc == 4 && !strcmp(argv[1], "check"))
		r = walk_log(argv[2], argv[3], CHECK, NULL);
	else if (argc == 4 && !strcmp(argv[1], "replay"))
		r = walk_log(argv[2], argv[3], REPLAY, NULL);
	else if (argc == 6 && !strcmp(argv[1], "replay"))
		r = walk_log(argv[2], argv[3], REPLAY, &(struct window){
			strcmp(argv[4], "-") ? argv[4] : NULL,
			strcmp(argv[5], "-") ? argv[5] : NULL });
	if (r == 2)
		fprintf(stderr, "usage: see the comment at the top of dmbt-logw.c\n");
	return r;
}
