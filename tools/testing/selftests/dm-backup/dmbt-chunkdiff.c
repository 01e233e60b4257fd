// SPDX-License-Identifier: GPL-2.0
/*
 * dmbt-chunkdiff: the chunks in which two images differ.
 *
 *   dmbt-chunkdiff A B CHUNK_BYTES
 *
 * Prints, one per line and ascending, the index of every CHUNK_BYTES
 * chunk whose bytes differ between files (or devices) A and B; a chunk
 * that only one of them reaches counts as differing.  Exit 0 on success,
 * 2 on a bad command line or an I/O error.  The shell (`cmp -l` through
 * awk, one line per differing byte) takes minutes under TCG for what this
 * does in a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t read_chunk(FILE *f, char *buf, size_t len, const char *name)
{
	size_t n = fread(buf, 1, len, f);

	if (ferror(f)) {
		perror(name);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long long chunk = 0;
	size_t len, na, nb;
	char *a, *b;
	FILE *fa, *fb;

	len = argc == 4 ? strtoul(argv[3], NULL, 0) : 0;
	if (!len) {
		fprintf(stderr, "usage: dmbt-chunkdiff A B CHUNK_BYTES\n");
		return 2;
	}
	fa = fopen(argv[1], "rb");
	fb = fopen(argv[2], "rb");
	a = malloc(len);
	b = malloc(len);
	if (!fa || !fb || !a || !b) {
		perror("dmbt-chunkdiff");
		return 2;
	}
	for (;; chunk++) {
		na = read_chunk(fa, a, len, argv[1]);
		nb = read_chunk(fb, b, len, argv[2]);
		if (!na && !nb)
			break;
		if (na != nb || memcmp(a, b, na))
			printf("%llu\n", chunk);
	}
	return 0;
}
