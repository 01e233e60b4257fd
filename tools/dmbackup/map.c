// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup map: build the allocation map of dm-backup's sync mode "top":
 * one bit per chunk, bit i = bit (i % 8) of byte (i / 8), set = copy it.
 *
 *   dmbackup map --chunk-sectors N --sectors LEN -o MAP SOURCE
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
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

struct map {
	uint64_t chunk_sectors;
	uint64_t sectors;		/* length of the target */
	uint64_t nr_chunks;
	unsigned char *bits;
	size_t bytes;			/* of @bits: padded to 512 */
	uint64_t marked;
	uint64_t block_sectors;		/* unit of the XML ranges */
	bool error;			/* the input was not what we expected */
};

/* Mark every chunk that [start, start + len) sectors touches. */
static void mark_sectors(struct map *m, uint64_t start, uint64_t len)
{
	uint64_t c, last;

	if (!len)
		return;
	if (start >= m->sectors) {
		err("map: range at sector %" PRIu64 " is past the end (%" PRIu64
		    " sectors)", start, m->sectors);
		m->error = true;
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
		err("map: no block size for the XML ranges");
		m->error = true;
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
			m->error = true;
	} else if (!strcmp(el, "different") || !strcmp(el, "left_only") ||
		   !strcmp(el, "right_only")) {
		if (parse_u64(attr(attrs, "begin"), &a) ||
		    parse_u64(attr(attrs, "length"), &b))
			m->error = true;
		else
			mark_blocks(m, a, b);
	} else if (!strcmp(el, "block")) {
		if (parse_u64(attr(attrs, "block"), &a))
			m->error = true;
		else
			mark_blocks(m, a, 1);
	} else if (!strcmp(el, "range")) {
		if (parse_u64(attr(attrs, "begin"), &a) ||
		    parse_u64(attr(attrs, "end"), &b) || b < a)
			m->error = true;
		else
			mark_blocks(m, a, b - a);
	}
}

static void read_xml(struct map *m, FILE *in)
{
	XML_Parser p = XML_ParserCreate(NULL);
	char buf[65536];
	size_t n;

	if (!p) {
		err("map: out of memory");
		m->error = true;
		return;
	}
	XML_SetUserData(p, m);
	XML_SetStartElementHandler(p, on_start);
	do {
		n = fread(buf, 1, sizeof(buf), in);
		if (XML_Parse(p, buf, (int)n, n == 0) == XML_STATUS_ERROR) {
			err("map: XML error at line %lu: %s",
			    (unsigned long)XML_GetCurrentLineNumber(p),
			    XML_ErrorString(XML_GetErrorCode(p)));
			m->error = true;
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
			err("map: line %lu: want '<offset> <length>' in bytes, "
			    "multiples of 512", nr);
			m->error = true;
			continue;
		}
		mark_sectors(m, o / 512, l / 512);
	}
}

/* ---- the command ---------------------------------------------------------- */

static const char map_usage[] =
"usage: dmbackup map --chunk-sectors N --sectors LEN -o MAP\n"
"           (--thin-delta FILE | --era FILE --era-block-sectors N |\n"
"            --ranges FILE)\n"
"\n"
"Write the map of a sync mode top backup (dmbackup start --mode top --map)\n"
"to the file MAP: one bit per chunk of N sectors of a volume of LEN sectors,\n"
"set for every chunk that a range of the input touches, padded to a\n"
"multiple of 512 bytes so that a loop device can hold it.  The input:\n"
"thin_delta XML (the ranges not \"same\", in the pool's data_block_size),\n"
"era_invalidate XML (blocks of --era-block-sectors), or lines\n"
"'<offset> <length>' in bytes ('#' starts a comment).  FILE - is stdin.\n"
"Nothing is written if the input is not what was expected.\n";

/* The command line of map; @kind is the option of the source. */
struct map_args {
	struct map m;
	const char *out, *src;
	int kind;
};

enum { MAP_CHUNK = 256, MAP_SECTORS, MAP_THIN, MAP_ERA, MAP_ERA_BLOCK, MAP_RANGES };

static int map_opt(void *ctx, int key, const char *val)
{
	struct map_args *a = ctx;
	uint64_t *num = NULL;
	const char *name = NULL;

	switch (key) {
	case MAP_CHUNK:
		num = &a->m.chunk_sectors;
		name = "--chunk-sectors";
		break;
	case MAP_SECTORS:
		num = &a->m.sectors;
		name = "--sectors";
		break;
	case MAP_ERA_BLOCK:
		num = &a->m.block_sectors;
		name = "--era-block-sectors";
		break;
	case 'o':
		a->out = val;
		break;
	default:	/* a source */
		if (a->kind) {
			err("map: give exactly one source");
			return EX_USAGE;
		}
		a->kind = key;
		a->src = val;
	}
	if (num && (parse_u64(val, num) || !*num)) {
		err("map: %s %s: a number above 0", name, val);
		return EX_USAGE;
	}
	return EX_OK;
}

/* build_map - read @in into @m's bits; false when the input was wrong. */
static bool build_map(struct map_args *a, FILE *in)
{
	struct map *m = &a->m;

	m->nr_chunks = (m->sectors + m->chunk_sectors - 1) / m->chunk_sectors;
	m->bytes = ((m->nr_chunks + 7) / 8 + 511) / 512 * 512;
	m->bits = calloc(1, m->bytes);
	if (!m->bits) {
		err("map: out of memory");
		return false;
	}
	if (a->kind == MAP_RANGES)
		read_ranges(m, in);
	else
		read_xml(m, in);
	return !m->error;
}

int cmd_map(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "chunk-sectors", required_argument, NULL, MAP_CHUNK },
		{ "sectors", required_argument, NULL, MAP_SECTORS },
		{ "output", required_argument, NULL, 'o' },
		{ "thin-delta", required_argument, NULL, MAP_THIN },
		{ "era", required_argument, NULL, MAP_ERA },
		{ "era-block-sectors", required_argument, NULL, MAP_ERA_BLOCK },
		{ "ranges", required_argument, NULL, MAP_RANGES },
		{ NULL, 0, NULL, 0 }
	};
	struct map_args a = { 0 };
	struct cmd_line cl = {
		.name = "map", .usage = map_usage, .opts = opts,
		.min_pos = 0, .max_pos = 0, .opt = map_opt, .ctx = &a,
	};
	bool ok;
	FILE *in, *f;
	int r;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	if (!a.kind || !a.out || !a.m.chunk_sectors || !a.m.sectors) {
		fputs(map_usage, stderr);
		return EX_USAGE;
	}
	if (a.kind == MAP_ERA && !a.m.block_sectors) {
		err("map: --era needs --era-block-sectors");
		return EX_USAGE;
	}

	in = strcmp(a.src, "-") ? fopen(a.src, "r") : stdin;
	if (!in) {
		err("map: %s: %s", a.src, strerror(errno));
		return EX_ERR;
	}
	ok = build_map(&a, in);
	if (in != stdin)
		fclose(in);
	if (!ok) {
		err("map: the input is not what was expected; no map written");
		free(a.m.bits);
		return EX_ERR;
	}
	f = fopen(a.out, "w");
	ok = f && fwrite(a.m.bits, 1, a.m.bytes, f) == a.m.bytes;
	if (f && fclose(f))
		ok = false;
	if (!ok) {
		err("map: cannot write %s: %s", a.out, strerror(errno));
		free(a.m.bits);
		return EX_ERR;
	}
	printf("dmbackup map: %" PRIu64 " of %" PRIu64 " chunks marked\n",
	       a.m.marked, a.m.nr_chunks);
	free(a.m.bits);
	return EX_OK;
}
