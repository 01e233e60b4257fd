// SPDX-License-Identifier: GPL-2.0
/*
 * dmbt-prng: deterministic pseudo-random data for dm-backup test oracles.
 *
 *   dmbt-prng SEED LENGTH [OFFSET]      (LENGTH/OFFSET accept K, M, G)
 *
 * Writes LENGTH bytes to stdout: the bytes at absolute positions
 * OFFSET..OFFSET+LENGTH-1 of the stream for SEED.  Each 8-byte word is
 * splitmix64(seed, word index), so any range can be regenerated without
 * storing it (expected images), every 512-byte sector is distinct (a write
 * landing in the wrong place is detected), and it runs at GB/s where
 * /dev/urandom crawls under TCG.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* As in the kernel: a case that goes on into the next on purpose. */
#ifndef fallthrough
#define fallthrough __attribute__((__fallthrough__))
#endif

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'G':
	case 'g':
		v <<= 10;
		fallthrough;
	case 'M':
	case 'm':
		v <<= 10;
		fallthrough;
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	case '\0':
		break;
	default:
		goto bad;
	}
	if (*end == '\0')
		return v;
bad:
	fprintf(stderr, "dmbt-prng: bad number '%s'\n", s);
	exit(2);
}

static inline uint64_t splitmix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	static uint64_t buf[(1 << 20) / 8 + 1];
	uint64_t seed, len, off, key, word;
	unsigned int skip;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s SEED LENGTH [OFFSET]\n", argv[0]);
		return 2;
	}
	seed = parse_size(argv[1]);
	len = parse_size(argv[2]);
	off = argc > 3 ? parse_size(argv[3]) : 0;
	key = splitmix64(seed) * 0x2545f4914f6cdd1dULL;
	word = off / 8;
	skip = off % 8;		/* unaligned start: drop leading bytes */

	while (len) {
		size_t n = len < (1 << 20) ? len : (1 << 20);
		size_t words = (n + skip + 7) / 8, i;
		const char *p = (const char *)buf + skip;

		for (i = 0; i < words; i++)	/* little-endian host */
			buf[i] = splitmix64(key + word + i);
		word += (n + skip) / 8;
		skip = (n + skip) % 8;
		/*
		 * The next chunk starts inside the last word if n + skip isn't
		 * a multiple of 8: regenerate that word and skip into it.
		 */
		while (n) {
			ssize_t w = write(1, p, n);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				perror("dmbt-prng: write");
				return 1;
			}
			p += w;
			n -= w;
			len -= w;
		}
	}
	return 0;
}
