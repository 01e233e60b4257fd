// SPDX-License-Identifier: GPL-2.0-only
/*
 * bkp-io: the I/O generator of the dm-backup selftests.
 *
 *   bkp-io fill <dev> <seed> [<zero_every> <chunk_bytes>]
 *	Fill <dev> with pseudo-random data; with <zero_every> = N > 0, every
 *	Nth chunk of <chunk_bytes> is left all zeroes.
 *
 *   bkp-io write <dev> <expect_file> <seed> <ops> <threads> <min> <max>
 *		  [<direct%> <discard%> <zeroout%> [<start> <len>]]
 *	Random writes of <min>..<max> bytes (multiples of 512, any 512-byte
 *	offset, so they straddle chunks) from <threads> writers at once,
 *	buffered or O_DIRECT, plus BLKDISCARD and BLKZEROOUT.  Every op is
 *	mirrored into <expect_file>, which must start as a copy of <dev>, so
 *	that afterwards <dev> must equal <expect_file> byte for byte.
 *	Writers never have ranges in flight at once that share a 4 KiB page
 *	(a range lock orders them) but do hit the same chunks at once.  Discarded ranges
 *	are expected to read back as zeroes (true for loop devices over
 *	tmpfs files, which the tests use for that).
 *
 *	The summary line ends with the longest time one op took ("max
 *	latency N ms"), for tests of how long a write may be held.
 *
 * Exit status is 0 on success, 1 on any I/O error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 512ULL
#define MAX_THREADS 64

struct range { uint64_t start, end; int busy; };

static struct {
	const char *dev;
	unsigned char *expect;		/* mmap of the expected image */
	uint64_t size;
	uint64_t lo, hi;		/* byte window the ops stay in */
	uint64_t min, max;
	unsigned int ops_per_thread;
	unsigned int direct_pct, discard_pct, zero_pct;
	uint64_t seed;
	pthread_mutex_t lock;		/* protects inflight[] */
	pthread_cond_t cond;		/* signalled when a range is released */
	struct range inflight[MAX_THREADS];
	int errors;
	unsigned long nr_discard_unsupported;
	uint64_t max_latency_ms;	/* longest op */
} g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void fill_random(unsigned char *buf, size_t len, uint64_t *s)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = xorshift(s);

		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = xorshift(s);
}

static int overlaps_locked(int self, uint64_t start, uint64_t end)
{
	int i;

	for (i = 0; i < MAX_THREADS; i++)
		if (i != self && g.inflight[i].busy &&
		    start < g.inflight[i].end && g.inflight[i].start < end)
			return 1;
	return 0;
}

/*
 * Ranges are locked in whole pages: a buffered write dirties whole page
 * cache pages, and an O_DIRECT write sharing a page with one in flight
 * fails to invalidate it (the kernel then reports EIO at fsync).
 */
static void range_lock(int self, uint64_t start, uint64_t end)
{
	start &= ~4095ULL;
	end = (end + 4095) & ~4095ULL;
	pthread_mutex_lock(&g.lock);
	while (overlaps_locked(self, start, end))
		pthread_cond_wait(&g.cond, &g.lock);
	g.inflight[self] = (struct range){ start, end, 1 };
	pthread_mutex_unlock(&g.lock);
}

static void range_unlock(int self)
{
	pthread_mutex_lock(&g.lock);
	g.inflight[self].busy = 0;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
}

static int full_pwrite(int fd, const unsigned char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
		off += n;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Keep the longest op's duration in g.max_latency_ms. */
static void note_latency(uint64_t ms)
{
	uint64_t old = __atomic_load_n(&g.max_latency_ms, __ATOMIC_RELAXED);

	while (ms > old &&
	       !__atomic_compare_exchange_n(&g.max_latency_ms, &old, ms, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void *writer(void *arg)
{
	int self = (int)(long)arg;
	uint64_t s = g.seed * 7919 + self + 1;
	unsigned char *buf;
	int fd_buf, fd_direct;
	unsigned int i;

	if (posix_memalign((void **)&buf, 4096, g.max))
		return (void *)1L;
	fd_buf = open(g.dev, O_RDWR);
	fd_direct = open(g.dev, O_RDWR | O_DIRECT);
	if (fd_buf < 0 || fd_direct < 0) {
		perror(g.dev);
		__sync_fetch_and_add(&g.errors, 1);
		return NULL;
	}

	for (i = 0; i < g.ops_per_thread; i++) {
		uint64_t sectors = (g.max - g.min) / SECTOR + 1;
		uint64_t len = g.min + (xorshift(&s) % sectors) * SECTOR;
		uint64_t window = g.hi - g.lo;
		uint64_t start, range[2], t0;
		unsigned int kind = xorshift(&s) % 100;
		int r;

		if (len > window)
			len = window;
		start = g.lo + (xorshift(&s) % ((window - len) / SECTOR + 1)) *
			SECTOR;
		range[0] = start;
		range[1] = len;

		range_lock(self, start, start + len);
		t0 = now_ms();
		if (kind < g.discard_pct) {
			r = ioctl(fd_buf, BLKDISCARD, range);
			if (r && errno == EOPNOTSUPP) {
				__sync_fetch_and_add(&g.nr_discard_unsupported, 1);
				r = 0;
			} else if (!r) {
				memset(g.expect + start, 0, len);
			}
		} else if (kind < g.discard_pct + g.zero_pct) {
			r = ioctl(fd_buf, BLKZEROOUT, range);
			if (!r)
				memset(g.expect + start, 0, len);
		} else {
			int direct = xorshift(&s) % 100 < g.direct_pct;

			fill_random(buf, len, &s);
			r = full_pwrite(direct ? fd_direct : fd_buf, buf, len,
					start);
			if (!r)
				memcpy(g.expect + start, buf, len);
		}
		note_latency(now_ms() - t0);
		if (r) {
			fprintf(stderr, "op at %llu+%llu: %s\n",
				(unsigned long long)start,
				(unsigned long long)len, strerror(errno));
			__sync_fetch_and_add(&g.errors, 1);
		}
		range_unlock(self);
	}
	if (fsync(fd_buf) || fsync(fd_direct)) {
		perror("fsync");
		__sync_fetch_and_add(&g.errors, 1);
	}
	close(fd_buf);
	close(fd_direct);
	free(buf);
	return NULL;
}

static uint64_t dev_size(int fd)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st))
		return 0;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, &size) ? 0 : size;
	return st.st_size;
}

static int cmd_write(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	unsigned int threads, i;
	int fd, efd;

	if (argc != 9 && argc != 12 && argc != 14)
		return 2;
	g.dev = argv[2];
	g.seed = strtoull(argv[4], NULL, 0);
	g.ops_per_thread = strtoul(argv[5], NULL, 0);
	threads = strtoul(argv[6], NULL, 0);
	g.min = strtoull(argv[7], NULL, 0);
	g.max = strtoull(argv[8], NULL, 0);
	if (argc >= 12) {
		g.direct_pct = strtoul(argv[9], NULL, 0);
		g.discard_pct = strtoul(argv[10], NULL, 0);
		g.zero_pct = strtoul(argv[11], NULL, 0);
	}
	if (!threads || threads > MAX_THREADS || g.min < SECTOR ||
	    g.min % SECTOR || g.max % SECTOR || g.max < g.min)
		return 2;
	g.ops_per_thread /= threads;

	fd = open(g.dev, O_RDONLY);
	efd = open(argv[3], O_RDWR);
	if (fd < 0 || efd < 0) {
		perror("open");
		return 1;
	}
	g.size = dev_size(fd);
	close(fd);
	if (dev_size(efd) != g.size) {
		fprintf(stderr, "%s is not as large as %s\n", argv[3], g.dev);
		return 1;
	}
	g.lo = 0;
	g.hi = g.size;
	if (argc == 14) {
		g.lo = strtoull(argv[12], NULL, 0);
		g.hi = g.lo + strtoull(argv[13], NULL, 0);
		if (g.hi > g.size || g.lo % SECTOR || g.hi % SECTOR)
			return 2;
	}
	g.expect = mmap(NULL, g.size, PROT_READ | PROT_WRITE, MAP_SHARED, efd, 0);
	if (g.expect == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (!g.seed)
		g.seed = 1;

	for (i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, writer, (void *)(long)i);
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);

	if (msync(g.expect, g.size, MS_SYNC))
		perror("msync");
	munmap(g.expect, g.size);
	close(efd);
	printf("bkp-io: %u ops by %u writers, %d errors, ",
	       g.ops_per_thread * threads, threads, g.errors);
	printf("%lu discards unsupported, max latency %llu ms\n",
	       g.nr_discard_unsupported, (unsigned long long)g.max_latency_ms);
	return g.errors ? 1 : 0;
}

static int cmd_fill(int argc, char **argv)
{
	uint64_t s, size, off, chunk = 65536, zero_every = 0;
	size_t bufsz = 1 << 20;
	unsigned char *buf;
	int fd;

	if (argc != 4 && argc != 6)
		return 2;
	s = strtoull(argv[3], NULL, 0) | 1;
	if (argc == 6) {
		zero_every = strtoull(argv[4], NULL, 0);
		chunk = strtoull(argv[5], NULL, 0);
		if (!chunk || chunk % SECTOR || bufsz % chunk)
			return 2;
	}
	fd = open(argv[2], O_WRONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	size = dev_size(fd);
	buf = malloc(bufsz);
	if (!buf)
		return 1;
	for (off = 0; off < size; off += bufsz) {
		size_t n = size - off < bufsz ? size - off : bufsz;
		uint64_t c;

		fill_random(buf, n, &s);
		for (c = 0; zero_every && c < n; c += chunk)
			if (((off + c) / chunk) % zero_every == 0)
				memset(buf + c, 0, n - c < chunk ? n - c : chunk);
		if (full_pwrite(fd, buf, n, off)) {
			perror("write");
			return 1;
		}
	}
	if (fsync(fd)) {
		perror("fsync");
		return 1;
	}
	close(fd);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (argc > 1 && !strcmp(argv[1], "write"))
		r = cmd_write(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "fill"))
		r = cmd_fill(argc, argv);
	if (r == 2)
		fprintf(stderr, "usage: see the comment at the top of bkp-io.c\n");
	return r;
}
