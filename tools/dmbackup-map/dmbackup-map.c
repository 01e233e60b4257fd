// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup-map: build the allocation map of dm-backup's sync mode "top":
 * one bit per chunk, bit i = bit (i % 8) of byte (i / 8), set = copy it.
 *
 *   dmbackup-map --chunk-sectors N --sectors LEN -o MAP SOURCE
 *
 * SOURCE is one of:
 *   --thin-delta FILE   thin_delta XML (thin-provisioning-tools): every
 *                       range that is not "same" between the two thin
 *                       devices, in data blocks of the superblock's
 *                       data_block_size;
 *   --era FILE          era_invalidate XML: blocks written since an era, in
 *                       blocks of --era-block-sectors;
 *   --ranges FILE       lines "<offset> <length>" in bytes ('#' comments).
 * FILE "-" is standard input.  A range that touches a chunk marks it.  The
 * map is padded to a multiple of 512 bytes so a loop device can hold it.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <errno.h>
#include <expat.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct map {
	uint64_t chunk_sectors;
	uint64_t sectors;		/* length of the target */
	uint64_t nr_chunks;
	unsigned char *bits;
	uint64_t marked;
	uint64_t block_sectors;		/* unit of the XML ranges */
	int error;
};

static void die(const char *msg)
{
	fprintf(stderr, "dmbackup-map: %s\n", msg);
	exit(2);
}

/* Mark every chunk that [start, start + len) sectors touches. */
static void mark_sectors(struct map *m, uint64_t start, uint64_t len)
{
	uint64_t c, last;

	if (!len)
		return;
	if (start >= m->sectors) {
		fprintf(stderr, "dmbackup-map: range at sector %" PRIu64
			" is past the end (%" PRIu64 " sectors)\n", start,
			m->sectors);
		m->error = 1;
		return;
	}
	if (len > m->sectors - start)
		len = m->sectors - start;
	last = (start + len - 1) / m->chunk_sectors;
	for (c = start / m->chunk_sectors; c <= last; c++) {
		if (!(m->bits[c / 8] & (1u << (c % 8))))
			m->marked++;
		m->bits[c / 8] |= 1u << (c % 8);
	}
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

static const char *attr(const char **attrs, const char *name)
{
	for (; attrs[0]; attrs += 2)
		if (!strcmp(attrs[0], name))
			return attrs[1];
	return NULL;
}

static void mark_blocks(struct map *m, uint64_t begin, uint64_t count)
{
	if (!m->block_sectors) {
		fprintf(stderr, "dmbackup-map: no block size for the XML ranges\n");
		m->error = 1;
		return;
	}
	mark_sectors(m, begin * m->block_sectors, count * m->block_sectors);
}

/*
 * thin_delta: <superblock data_block_size=...> <diff> then <same>,
 * <different>, <left_only>, <right_only> with begin and length.
 * era_invalidate: <blocks> then <block block=.../> and
 * <range begin=... end=.../> (end exclusive).
 */
static void XMLCALL on_start(void *data, const char *el, const char **attrs)
{
	struct map *m = data;
	uint64_t a, b;

	if (!strcmp(el, "superblock")) {
		if (!m->block_sectors &&
		    parse_u64(attr(attrs, "data_block_size"), &m->block_sectors))
			m->error = 1;
	} else if (!strcmp(el, "different") || !strcmp(el, "left_only") ||
		   !strcmp(el, "right_only")) {
		if (parse_u64(attr(attrs, "begin"), &a) ||
		    parse_u64(attr(attrs, "length"), &b))
			m->error = 1;
		else
			mark_blocks(m, a, b);
	} else if (!strcmp(el, "block")) {
		if (parse_u64(attr(attrs, "block"), &a))
			m->error = 1;
		else
			mark_blocks(m, a, 1);
	} else if (!strcmp(el, "range")) {
		if (parse_u64(attr(attrs, "begin"), &a) ||
		    parse_u64(attr(attrs, "end"), &b) || b < a)
			m->error = 1;
		else
			mark_blocks(m, a, b - a);
	}
}

static void read_xml(struct map *m, FILE *in)
{
	XML_Parser p = XML_ParserCreate(NULL);
	char buf[65536];
	size_t n;

	if (!p)
		die("out of memory");
	XML_SetUserData(p, m);
	XML_SetStartElementHandler(p, on_start);
	do {
		n = fread(buf, 1, sizeof(buf), in);
		if (XML_Parse(p, buf, (int)n, n == 0) == XML_STATUS_ERROR) {
			fprintf(stderr, "dmbackup-map: XML error at line %lu: %s\n",
				(unsigned long)XML_GetCurrentLineNumber(p),
				XML_ErrorString(XML_GetErrorCode(p)));
			m->error = 1;
			break;
		}
	} while (n);
	XML_ParserFree(p);
}

static void read_ranges(struct map *m, FILE *in)
{
	char line[256], off[64], len[64], extra[2];
	uint64_t o, l;
	unsigned long nr = 0;

	while (fgets(line, sizeof(line), in)) {
		char *hash = strchr(line, '#');
		int k;

		nr++;
		if (hash)
			*hash = '\0';
		k = sscanf(line, "%63s %63s %1s", off, len, extra);
		if (k <= 0)
			continue;
		if (k != 2 || parse_u64(off, &o) || parse_u64(len, &l) ||
		    o % 512 || l % 512) {
			fprintf(stderr, "dmbackup-map: line %lu: want '<offset> <length>' in bytes, multiples of 512\n",
				nr);
			m->error = 1;
			continue;
		}
		mark_sectors(m, o / 512, l / 512);
	}
}

static void usage(void)
{
	fputs("usage: dmbackup-map --chunk-sectors N --sectors LEN -o MAP\n"
	      "         (--thin-delta FILE | --era FILE --era-block-sectors N |\n"
	      "          --ranges FILE)\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "chunk-sectors", required_argument, NULL, 'c' },
		{ "sectors", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "thin-delta", required_argument, NULL, 't' },
		{ "era", required_argument, NULL, 'e' },
		{ "era-block-sectors", required_argument, NULL, 'b' },
		{ "ranges", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct map m = { 0 };
	const char *out = NULL, *src = NULL;
	int kind = 0, c;
	size_t bytes;
	FILE *in, *f;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_u64(optarg, &m.chunk_sectors) || !m.chunk_sectors)
				die("bad --chunk-sectors");
			break;
		case 's':
			if (parse_u64(optarg, &m.sectors) || !m.sectors)
				die("bad --sectors");
			break;
		case 'b':
			if (parse_u64(optarg, &m.block_sectors) || !m.block_sectors)
				die("bad --era-block-sectors");
			break;
		case 'o':
			out = optarg;
			break;
		case 't':
		case 'e':
		case 'r':
			if (kind)
				die("give exactly one source");
			kind = c;
			src = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !kind || !out || !m.chunk_sectors || !m.sectors)
		usage();
	if (kind == 'e' && !m.block_sectors)
		die("--era needs --era-block-sectors");

	m.nr_chunks = (m.sectors + m.chunk_sectors - 1) / m.chunk_sectors;
	bytes = ((m.nr_chunks + 7) / 8 + 511) / 512 * 512;
	m.bits = calloc(1, bytes);
	if (!m.bits)
		die("out of memory");
	in = strcmp(src, "-") ? fopen(src, "r") : stdin;
	if (!in) {
		perror(src);
		return 2;
	}
	if (kind == 'r')
		read_ranges(&m, in);
	else
		read_xml(&m, in);
	if (m.error)
		die("the input is not what was expected; no map written");

	f = fopen(out, "w");
	if (!f || fwrite(m.bits, 1, bytes, f) != bytes || fclose(f)) {
		perror(out);
		return 2;
	}
	printf("dmbackup-map: %" PRIu64 " of %" PRIu64 " chunks marked\n",
	       m.marked, m.nr_chunks);
	return 0;
}
