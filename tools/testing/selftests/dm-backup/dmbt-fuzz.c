// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbt-fuzz: seeded, reproducible fuzzing of the dm-backup interfaces
 * (table lines, target messages, /sys/block/dm-N/backup/ writes), each
 * input checked against an oracle of the documented grammar.
 *
 *   dmbt-fuzz run <seed> [<first>] <count> <origin> <backup> <small> <lorigin> <lbackup>
 *	Run cases first..first+count-1 (first defaults to 0).  Case i depends
 *	only on (seed, i): "run <seed> <i> 1 ..." replays case i alone, and
 *	"show" prints it.  Table
 *	lines go straight to the dm ioctls (DM_TABLE_LOAD and friends, no
 *	dmsetup: thousands of dmsetup runs crawl under TCG).  For each case
 *	the oracle says "refuse" (the load/message/write must fail, change
 *	nothing, and for table errors of the target the kernel log must name
 *	the documented message), "accept" (it must succeed with the
 *	documented meaning: `dmsetup table` canonical line, which must load
 *	again and read back the same; a message's or sysfs write's effect on
 *	speed/state), or "either" (dm core quirks, e.g. an option count that
 *	overflows u32: only consistency is checked).
 *	<origin> and <backup> are block devices, <backup> larger than
 *	<origin>; <small> is smaller than <origin>; <lorigin> and <lbackup>
 *	(any size, lbackup >= lorigin) belong to the live device that the
 *	messages and sysfs writes go to.  Devices "dmbt-fuzz-t"
 *	and "dmbt-fuzz-live" are created and removed.
 *   dmbt-fuzz show <seed> <first> <n> <origin> <backup> <small> <lorigin> <lbackup>
 *	Print cases first..first+n-1 and the oracle's verdict.
 *   dmbt-fuzz lines <seed> <count> <origin> <backup> <small> <lorigin> <lbackup>
 *	Print "<verdict>\t<canonical>\t<table line>" for table cases with
 *	start 0 (to feed a sample through dmsetup itself).
 *
 * Exit status: 0 all cases matched the oracle, 1 mismatches, 2 usage or
 * setup error.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define TNAME "dmbt-fuzz-t"
#define LNAME "dmbt-fuzz-live"
#define LIVE_SPEED 65536ULL
#define MAXW 4096
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LINE_MAX_LEN 131072	/* bytes */

enum verdict { V_REFUSE, V_ACCEPT, V_EITHER };
static const char * const vname[] = { "refuse", "accept", "either" };

/* ---- prng --------------------------------------------------------------- */
static unsigned long long rs;
static unsigned long long rnd(void)
{
	unsigned long long z = (rs += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rn(unsigned int n)
{
	return n ? rnd() % n : 0;
}

static int pct(unsigned int p)
{
	return rn(100) < p;
}

/* ---- devices -------------------------------------------------------------- */
struct dev { const char *path; char mm[32]; unsigned long long sectors; dev_t rdev; };
static struct dev D[5];		/* origin, backup, small, live origin, live backup */
static int ctl = -1;
static int verbose;
static char tmin[32];		/* "254:N" of the fuzz device itself */
static unsigned int dm_major = 254;
static dev_t tdev;		/* the fuzz device itself */

static int dev_init(struct dev *d, const char *path)
{
	struct stat st;
	int fd;

	d->path = path;
	if (stat(path, &st) || !S_ISBLK(st.st_mode))
		return -1;
	d->rdev = st.st_rdev;
	snprintf(d->mm, sizeof(d->mm), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	fd = open(path, O_RDONLY);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &d->sectors))
		return -1;
	d->sectors >>= 9;
	close(fd);
	return 0;
}

/*
 * What dm_get_device would make of a word: 0 and the device number and
 * size, or -1 if it cannot be opened.  Only words the generator makes are
 * resolved: our devices by path or major:minor, or junk.
 */
static int resolve(const char *w, dev_t *rdev, unsigned long long *sectors)
{
	char p[64];
	unsigned int ma, mi;
	char c;
	struct stat st;
	FILE *f;
	unsigned long long sz;

	if (w[0] == '/') {
		if (stat(w, &st) || !S_ISBLK(st.st_mode))
			return -1;
		ma = major(st.st_rdev);
		mi = minor(st.st_rdev);
	} else if (sscanf(w, "%u:%u%c", &ma, &mi, &c) != 2) {
		return -1;
	}
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/size", ma, mi);
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%llu", &sz) != 1)
		sz = 0;
	fclose(f);
	*rdev = makedev(ma, mi);
	*sectors = sz;
	return 0;
}

/* ---- dm ioctls ------------------------------------------------------------- */
static struct dm_ioctl *dmbuf;
static size_t dmbuf_size = 1 << 20;

/*
 * The kernel copies data_size bytes in and out of every ioctl: keep it to
 * what the call needs (a fixed 1 MiB would cost milliseconds under TCG).
 */
static size_t dm_size = 16384;

static struct dm_ioctl *dm_prep(const char *name, uint32_t flags)
{
	if (!dmbuf)
		dmbuf = calloc(1, dmbuf_size);
	memset(dmbuf, 0, sizeof(*dmbuf));
	dmbuf->version[0] = DM_VERSION_MAJOR;
	dmbuf->data_size = dm_size;
	dmbuf->data_start = sizeof(*dmbuf);
	dmbuf->flags = flags;
	if (name)
		snprintf(dmbuf->name, sizeof(dmbuf->name), "%s", name);
	return dmbuf;
}

static int dm_do(unsigned long cmd)
{
	int r = ioctl(ctl, cmd, dmbuf);

	return r < 0 ? -errno : 0;
}

static int dm_simple(unsigned long cmd, const char *name, uint32_t flags)
{
	dm_prep(name, flags);
	return dm_do(cmd);
}

struct tgt { unsigned long long start, len; const char *params; };

static int dm_load(const char *name, const struct tgt *t, int n)
{
	struct dm_ioctl *io = dm_prep(name, 0);
	char *p = (char *)io + io->data_start;
	struct dm_target_spec *prev = NULL;
	int i;

	for (i = 0; i < n; i++) {
		struct dm_target_spec *s = (void *)p;
		size_t l = strlen(t[i].params) + 1;

		if ((size_t)(p - (char *)io) + sizeof(*s) + l + 8 > dmbuf_size)
			return -E2BIG;
		memset(s, 0, sizeof(*s));
		s->sector_start = t[i].start;
		s->length = t[i].len;
		strcpy(s->target_type, "backup");
		memcpy(s + 1, t[i].params, l);
		if (prev)
			prev->next = (char *)s - (char *)prev;
		prev = s;
		p = (char *)(s + 1) + ((l + 7) & ~7UL);
	}
	io->target_count = n;
	io->data_size = (p - (char *)io) + 64;
	return dm_do(DM_TABLE_LOAD);
}

/* Params of target #idx of the table/status; NULL if none. */
static const char *dm_status(const char *name, int table, int inactive, int idx,
			     int *ntargets)
{
	struct dm_ioctl *io;
	struct dm_target_spec *s;
	char *base;
	uint32_t i;

	io = dm_prep(name, (table ? DM_STATUS_TABLE_FLAG : 0) |
		     (inactive ? DM_QUERY_INACTIVE_TABLE_FLAG : 0) | DM_NOFLUSH_FLAG);
	if (dm_do(DM_TABLE_STATUS))
		return NULL;
	if (ntargets)
		*ntargets = io->target_count;
	/* Output specs' "next" is relative to the start of the data. */
	base = (char *)io + io->data_start;
	s = (void *)base;
	for (i = 0; i < io->target_count; i++) {
		if ((int)i == idx)
			return (const char *)(s + 1);
		s = (void *)(base + s->next);
	}
	return NULL;
}

static int dm_flags(const char *name, uint32_t *flags, uint32_t *devmin)
{
	if (dm_simple(DM_DEV_STATUS, name, 0))
		return -1;
	*flags = dmbuf->flags;
	if (devmin)
		*devmin = minor(dmbuf->dev);
	return 0;
}

static int dm_msg(const char *name, unsigned long long sector, const char *msg)
{
	struct dm_ioctl *io = dm_prep(name, 0);
	struct dm_target_msg *m = (void *)((char *)io + io->data_start);

	if (strlen(msg) + sizeof(*io) + sizeof(*m) + 8 > dmbuf_size)
		return -E2BIG;
	m->sector = sector;
	strcpy(m->message, msg);
	io->data_size = sizeof(*io) + sizeof(*m) + strlen(msg) + 64;
	return dm_do(DM_TARGET_MSG);
}

/* ---- kernel log ----------------------------------------------------------------- */
static int kmsg = -1;
static char klog[1 << 16];

/* Collect what the kernel logged since the last call. */
static const char *kmsg_drain(void)
{
	char rec[8192];
	size_t used = 0;
	ssize_t n;

	klog[0] = 0;
	if (kmsg < 0)
		return klog;
	for (;;) {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		for (ssize_t j = 0; j < n; j++)
			if (rec[j] == '\n')
				rec[j] = '|';
		if (used + n + 1 < sizeof(klog)) {
			memcpy(klog + used, rec, n + 1);
			used += n;
		}
	}
	return klog;
}

/* ---- oracle helpers ------------------------------------------------------------- */
/* kstrtou64(s, 10): optional '+', digits, an optional trailing '\n', no overflow. */
static int kstrtou64_ok(const char *s, unsigned long long *v)
{
	unsigned long long x = 0;
	const char *p = s;

	if (*p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return 0;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = *p - '0';

		if (x > (UINT64_MAX - d) / 10)
			return 0;
		x = x * 10 + d;
	}
	if (*p == '\n')
		p++;
	if (*p)
		return 0;
	*v = x;
	return 1;
}

/*
 * dm_read_arg_group's "%u%c": digits only (no sign).  1: value in *v;
 * 0: refused; -1: too many digits, dm core's sscanf wraps: either.
 */
static int count_word(const char *s, unsigned long long *v)
{
	const char *p = s;
	int sig = 0;
	unsigned long long x = 0;

	if (!isdigit((unsigned char)*p))
		return 0;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		if (sig || *p != '0')
			sig++;
		if (sig > 9)
			return -1;
		x = x * 10 + (*p - '0');
	}
	*v = x;
	return 1;
}

static const char * const policy_src[] = { "report", "ignore", "stop", NULL };
static const char * const policy_tgt[] = { "report", "ignore", "stop", "enospc", NULL };
static const char * const policy_cbw[] = { "break_backup", "fail_write", NULL };
static const char * const optnames[] = { "speed", "chunk_size", "on_source_error",
				  "on_target_error", "on_cbw_error", "map", NULL };
static const char * const modes[] = { "full", "top", "none", NULL };

static int match(const char *w, const char * const *names)
{
	int i;

	for (i = 0; names[i]; i++)
		if (!strcasecmp(w, names[i]))
			return i;
	return -1;
}

struct expect {
	enum verdict v;
	const char *msg;	/* the documented kernel log message, if refused */
	char canon[512];	/* the canonical params, if accepted */
	unsigned long long chunk;
	int mode;
};

/* The documented grammar of the table line's params, as words. */
static void oracle_table(char **w, int n, unsigned long long start, unsigned long long len,
			 struct expect *e)
{
	unsigned long long speed = 0, chunk = 128, cnt = 0, v;
	int src = 0, tgt = 0, cbw = 0, seen = 0, i, k, nr, cw, mode, map = 0;
	dev_t od, bd, md = 0;
	unsigned long long os, bs, ms = 0;
	char *c;

	e->v = V_REFUSE;
	e->msg = NULL;
	e->canon[0] = 0;
	if (start + len < start || start + len > (unsigned long long)INT64_MAX >> 9 ||
	    start != 0 || len == 0)
		return;			/* dm core: too large, gap, zero length */
	if (n < 3) {
		e->msg = "Invalid argument count";
		return;
	}
	mode = match(w[2], modes);
	if (mode < 0) {
		e->msg = "Invalid sync mode";
		return;
	}
	i = 3;
	if (n > 3) {
		cw = count_word(w[3], &cnt);
		if (cw < 0) {
			e->v = V_EITHER;
			return;
		}
		/* at most 2 words per option the target knows */
		if (!cw || cnt > 2 * (ARRAY_SIZE(optnames) - 1) ||
		    cnt > (unsigned long long)(n - 4)) {
			e->msg = "Invalid number of optional arguments";
			return;
		}
		if (cnt % 2) {
			e->msg = "Optional arguments must be key/value pairs";
			return;
		}
		i = 4;
		for (k = 0; k < (int)cnt; k += 2, i += 2) {
			int o = match(w[i], optnames);

			if (o < 0) {
				e->msg = "Unknown optional argument";
				return;
			}
			if (seen & (1 << o)) {
				e->msg = "Duplicate optional argument";
				return;
			}
			seen |= 1 << o;
			switch (o) {
			case 0:
				if (!kstrtou64_ok(w[i + 1], &speed)) {
					e->msg = "Invalid speed";
					return;
				}
				break;
			case 1:
				if (!kstrtou64_ok(w[i + 1], &v) || v > UINT32_MAX ||
				    v < 8 || v > 2048 || (v & (v - 1))) {
					e->msg = "Invalid chunk_size";
					return;
				}
				chunk = v;
				break;
			case 2:
				src = match(w[i + 1], policy_src);
				if (src < 0) {
					e->msg = "Invalid on_source_error";
					return;
				}
				break;
			case 3:
				tgt = match(w[i + 1], policy_tgt);
				if (tgt < 0) {
					e->msg = "Invalid on_target_error";
					return;
				}
				break;
			case 4:
				cbw = match(w[i + 1], policy_cbw);
				if (cbw < 0) {
					e->msg = "Invalid on_cbw_error";
					return;
				}
				break;
			case 5:		/* opened while the options are parsed */
				if (!resolve(w[i + 1], &md, &ms) && md == tdev) {
					e->msg = NULL;	/* see "self" below */
					return;
				}
				if (resolve(w[i + 1], &md, &ms)) {
					e->msg = "Error opening map device";
					return;
				}
				map = 1;
				break;
			}
		}
		if (i < n) {
			e->msg = "Too many arguments";
			return;
		}
	}
	/*
	 * The device being loaded, as its own origin or backup: 6.1 opens it
	 * (then it is too small: no table), 6.12 refuses to open it.
	 */
	if ((!resolve(w[0], &od, &os) && od == tdev) ||
	    (!resolve(w[1], &bd, &bs) && bd == tdev && !resolve(w[0], &od, &os))) {
		e->msg = NULL;
		return;
	}
	if (resolve(w[0], &od, &os)) {
		e->msg = "Error opening origin device";
		return;
	}
	if (resolve(w[1], &bd, &bs)) {
		e->msg = "Error opening backup device";
		return;
	}
	if (od == bd) {
		e->msg = "Backup device must differ";
		return;
	}
	if (os < len) {
		e->msg = "Origin device is smaller";
		return;
	}
	if (bs < len) {
		e->msg = "Backup device is smaller";
		return;
	}
	if (mode == 1 && !map) {
		e->msg = "Sync mode top needs a map";
		return;
	}
	if (mode != 1 && map) {
		e->msg = "A map is only for sync mode top";
		return;
	}
	if (map && ms * 512 < ((len + chunk - 1) / chunk + 7) / 8) {
		e->msg = "Map device is too small";
		return;
	}
	if (bd == D[4].rdev) {
		/* The live device's job writes it (refused since the registry). */
		e->msg = "Backup device is in use by another backup job";
		return;
	}
	e->v = V_ACCEPT;
	e->mode = mode;
	e->chunk = chunk;
	c = e->canon;
	c += sprintf(c, "%u:%u %u:%u %s", major(od), minor(od), major(bd), minor(bd),
		     modes[mode]);
	nr = !!speed + (chunk != 128) + !!src + !!tgt + !!cbw + map;
	if (nr)
		c += sprintf(c, " %d", 2 * nr);
	if (speed)
		c += sprintf(c, " speed %llu", speed);
	if (chunk != 128)
		c += sprintf(c, " chunk_size %llu", chunk);
	if (src)
		c += sprintf(c, " on_source_error %s", policy_src[src]);
	if (tgt)
		c += sprintf(c, " on_target_error %s", policy_tgt[tgt]);
	if (cbw)
		c += sprintf(c, " on_cbw_error %s", policy_cbw[cbw]);
	if (map)
		c += sprintf(c, " map %u:%u", major(md), minor(md));
}

/* ---- generators ---------------------------------------------------------------- */
static char pool[LINE_MAX_LEN * 2];
static size_t pool_used;

static char *pstr(const char *fmt, ...)
{
	va_list ap;
	char *p = pool + pool_used;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p, sizeof(pool) - pool_used, fmt, ap);
	va_end(ap);
	if (n < 0 || pool_used + n + 1 >= sizeof(pool))
		return (char *)"x";
	pool_used += n + 1;
	return p;
}

/* Random case of a word (keywords are case-insensitive). */
static char *recase(const char *s)
{
	char *p = pstr("%s", s), *q;

	if (pct(80))
		return p;
	for (q = p; *q; q++)
		if (pct(50))
			*q = toupper((unsigned char)*q);
	return p;
}

/* A junk word: no whitespace, no backslash (dm's escape), not starting with '@'. */
static char *junk(unsigned int maxlen)
{
	static const char cs[] =
		"abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-+:./,;=%$#!?*&()[]{}<>|'\"~^`";
	unsigned int l = 1 + rn(maxlen), i;
	char *p = pool + pool_used;

	if (pool_used + l + 1 >= sizeof(pool))
		return (char *)"j";
	for (i = 0; i < l; i++)
		p[i] = cs[rn(sizeof(cs) - 1)];
	if (p[0] == '@')
		p[0] = 'a';
	p[l] = 0;
	pool_used += l + 1;
	return p;
}

static char *devword1(int role);

static char *number(void)
{
	switch (rn(14)) {
	case 0:
		return pstr("0");
	case 1:
		return pstr("%u", rn(10));
	case 2:
		return pstr("%llu", rnd() >> rn(64));
	case 3:
		return pstr("-%u", rn(1000));
	case 4:
		return pstr("+%u", rn(5000));
	case 5:
		return pstr("18446744073709551615");
	case 6:
		return pstr("18446744073709551616");
	case 7:
		return pstr("99999999999999999999999999");
	case 8:
		return pstr("0x%x", rn(4096));
	case 9:
		return pstr("%u%c", rn(100), "kKmMgGx."[rn(8)]);
	case 10:
		return pstr("000%u", 1u << rn(13));
	case 11:
		return pstr("%u", 1u << rn(14));
	case 12:
		return pstr("4294967%03u", rn(1000));
	default:
		return pstr("%llu", (unsigned long long)rn(1 << 20) * rn(1 << 20));
	}
}

/*
 * 6.1's dm_get_device falls back to name_to_dev_t(): a hex word ("1ae",
 * "0x1ae") is a device number, and opening it may autoload a driver (brd
 * for major 1).  Keep such words out of device positions.
 */
static int hexish(const char *w)
{
	if (w[0] == '0' && (w[1] == 'x' || w[1] == 'X'))
		w += 2;
	if (!*w)
		return 0;
	for (; *w; w++)
		if (!isxdigit((unsigned char)*w))
			return 0;
	return 1;
}

static char *nohex(char *w)
{
	return hexish(w) ? pstr("/dev/nonexistent-%s", w) : w;
}

static char *devword(int role)
{
	return nohex(devword1(role));
}

static char *devword1(int role)
{
	switch (rn(role == 0 ? 24 : 20)) {
	case 0:
		return pstr("%s", D[0].path);
	case 1:
		return pstr("%s", D[0].mm);
	case 2:
		return pstr("%s", D[1].path);
	case 3:
		return pstr("%s", D[1].mm);
	case 4:
		return pstr("%s", D[2].path);
	case 5:
		return pstr("%s", D[2].mm);
	case 6:
		return pstr("/dev/nonexistent%u", rn(10));
	case 7:
		return pstr("/dev/null");
	/* Not a loop major: loop's probe would create the device on open. */
	case 8:
		return pstr("%u:%u", dm_major, 200 + rn(50));
	case 9:
		return pstr("0:0");
	case 10:
		return junk(20);
	case 11:
		return number();
	case 12:
		return pstr("%s", tmin); /* the device being loaded: load only */
	case 13:
		return pstr("/dev/mapper/" LNAME);
	case 14:
		return pstr("%s", D[4].path);
	default:
		return pstr("%s", role == 0 ? D[0].path : D[1].path);
	}
}

static const char *optvalue(int o)
{
	if (pct(25))
		return nohex(pct(50) ? number() : junk(12));
	switch (o) {
	case 0:
		return pct(20) ? pstr("%llu", rnd() >> rn(64)) : number();
	case 1:
		return pct(60) ? pstr("%s%u", pct(10) ? "+" : "", 1u << rn(13)) : number();
	case 2:
		return recase(policy_src[rn(4)] ? policy_src[rn(3)] : "enospc");
	case 3:
		return recase(policy_tgt[rn(4)]);
	case 5:
		return pct(80) ? pstr("%s", pct(50) ? D[2].path : D[2].mm) : devword(1);
	default:
		return recase(pct(90) ? policy_cbw[rn(2)] : "break");
	}
}

struct tcase {
	unsigned long long start, len;
	char *w[MAXW];
	int n;
	int ntargets;		/* 2: two backup targets splitting the line */
	int resume;		/* also resume (start the job) if accepted */
};

static void gen_table(struct tcase *t)
{
	int npairs, i, cntmode;

	t->n = 0;
	t->ntargets = 1;
	t->start = pct(97) ? 0 : rnd() >> rn(64);
	switch (rn(12)) {
	case 0:
		t->len = 0;
		break;
	case 1:
		t->len = D[0].sectors + 1 + rn(100);
		break;
	case 2:
		t->len = rnd() >> rn(64);
		break;
	case 3:
		t->len = D[2].sectors;
		break;
	case 4:
		t->len = 1 + rn(D[0].sectors);
		break;
	default:
		t->len = D[0].sectors;
		break;
	}
	if (pct(40)) {			/* a valid line, maybe with one mutation */
		static const char *good[6][4] = {
			{ "0", "1048576", "+33554432", "18446744073709551615" },
			{ "8", "2048", "+256", "0064" },
			{ "report", "ignore", "stop", "Ignore" },
			{ "enospc", "stop", "report", "ENOSPC" },
			{ "fail_write", "break_backup", "FAIL_WRITE", "fail_write" },
			{ NULL, NULL, NULL, NULL },	/* map: the small device */
		};
		int used = 0, k = rn(6), o, m, mode = rn(10);

		if (t->len == 0 || t->len > D[0].sectors)
			t->len = D[0].sectors;
		t->start = 0;
		t->w[t->n++] = pstr("%s", pct(50) ? D[0].path : D[0].mm);
		t->w[t->n++] = pstr("%s", pct(50) ? D[1].path : D[1].mm);
		mode = mode < 7 ? 0 : mode < 9 ? 1 : 2;
		t->w[t->n++] = recase(modes[mode]);
		if (mode == 1 && k == 0)
			k = 1;
		if (mode == 1)
			used = 1 << 5;	/* map comes last */
		if (k || pct(30))
			t->w[t->n++] = pstr("%d", 2 * k);
		while (k--) {
			if (k == 0 && mode == 1) {
				t->w[t->n++] = recase("map");
				t->w[t->n++] = pstr("%s", pct(50) ? D[2].path : D[2].mm);
				break;
			}
			do
				o = rn(5);
			while (used & (1 << o));
			used |= 1 << o;
			t->w[t->n++] = recase(optnames[o]);
			t->w[t->n++] = pct(50) ? pstr("%s", good[o][rn(4)]) :
				(char *)optvalue(o);
		}
		if (pct(50)) {
			m = rn(t->n + 1);
			switch (rn(4)) {
			case 0:		/* replace a word */
				if (m < t->n)
					t->w[m] = pct(50) ? number() : junk(10);
				if (m < t->n && (m < 2 || !strcasecmp(t->w[m - 1], "map")))
					t->w[m] = nohex(t->w[m]);
				break;
			case 1:		/* drop a word */
				if (m < t->n) {
					memmove(&t->w[m], &t->w[m + 1],
						(t->n - m - 1) * sizeof(t->w[0]));
					t->n--;
				}
				break;
			case 2:		/* duplicate a word */
				if (m < t->n) {
					memmove(&t->w[m + 1], &t->w[m],
						(t->n - m) * sizeof(t->w[0]));
					t->n++;
				}
				break;
			default:	/* another length */
				t->len = 1 + rn(D[1].sectors + 16);
				break;
			}
		}
		return;
	}
	if (rn(50) == 0) {		/* empty params */
		t->w[t->n++] = pstr("%s", "");
		t->n = 0;
		return;
	}
	t->w[t->n++] = devword(0);
	if (pct(97))
		t->w[t->n++] = devword(1);
	if (pct(97)) {
		switch (rn(12)) {
		case 0:
			t->w[t->n++] = recase("top");
			break;
		case 1:
			t->w[t->n++] = recase("none");
			break;
		case 2:
			t->w[t->n++] = junk(8);
			break;
		default:
			t->w[t->n++] = recase("full");
			break;
		}
	}
	if (t->n < 3 || pct(15))
		goto tail;
	npairs = rn(7);
	cntmode = rn(10);
	switch (cntmode) {
	case 0:
		t->w[t->n++] = number();
		break;
	case 1:
		t->w[t->n++] = pstr("%u", 2 * npairs + 1);
		break;
	case 2:
		t->w[t->n++] = junk(5);
		break;
	default:
		t->w[t->n++] = pstr("%u", 2 * npairs);
		break;
	}
	for (i = 0; i < npairs && t->n < MAXW - 2; i++) {
		int o = rn(6);

		if (pct(7))
			t->w[t->n++] = pct(50) ? junk(16) : pstr("chunk-size");
		else
			t->w[t->n++] = recase(optnames[o]);
		if (pct(95))
			t->w[t->n++] = (char *)optvalue(o);
	}
tail:
	if (pct(8))		/* trailing extras */
		for (i = rn(4); i >= 0; i--)
			t->w[t->n++] = pct(50) ? number() : junk(10);
	if (rn(40) == 0)	/* one very long word */
		t->w[t->n++] = junk(1 + rn(60000));
	if (rn(60) == 0) {	/* very many words */
		int many = 100 + rn(MAXW - 200);

		while (t->n < many)
			t->w[t->n++] = pct(50) ? recase(optnames[rn(6)]) : number();
	}
}

static char *join(char **w, int n)
{
	static char line[LINE_MAX_LEN * 2];
	size_t used = 0;
	int i;

	line[0] = 0;
	for (i = 0; i < n; i++) {
		size_t l = strlen(w[i]);

		if (used + l + 2 >= sizeof(line))
			break;
		if (i)
			line[used++] = pct(90) ? ' ' : "\t  "[rn(3)];
		memcpy(line + used, w[i], l + 1);
		used += l;
	}
	return line;
}

/* ---- case runners ---------------------------------------------------------------- */
static unsigned long n_case[3][3], n_bad, n_either_acc, n_note;
static unsigned long long g_seed;

#define BAD(...) do { \
	printf("MISMATCH seed %llu case %lu: ", g_seed, idx); \
	printf(__VA_ARGS__); \
	printf("\n"); \
	n_bad++; \
} while (0)

static int recreate_t(void)
{
	dm_simple(DM_DEV_REMOVE, TNAME, 0);
	if (dm_simple(DM_DEV_CREATE, TNAME, 0))
		return -1;
	dm_major = major(dmbuf->dev);
	tdev = dmbuf->dev;
	snprintf(tmin, sizeof(tmin), "%u:%u", major(dmbuf->dev), minor(dmbuf->dev));
	return 0;
}

static int live_create(void)
{
	char params[256];
	struct tgt t = { 0, D[3].sectors, params };

	dm_simple(DM_DEV_REMOVE, LNAME, 0);
	snprintf(params, sizeof(params), "%s %s full 2 speed %llu", D[3].mm, D[4].mm,
		 LIVE_SPEED);
	if (dm_simple(DM_DEV_CREATE, LNAME, 0) || dm_load(LNAME, &t, 1) ||
	    dm_simple(DM_DEV_SUSPEND, LNAME, 0))
		return -1;
	return 0;
}

static void run_table(unsigned long idx, struct tcase *t, int show)
{
	struct expect e[2];
	struct tgt tg[2];
	const char *got, *log;
	char *line, params2[600], canon0[600];
	uint32_t fl;
	int r, nt, i, uses_self = 0;

	for (i = 0; i < t->n && i < 2; i++)
		if (!strcmp(t->w[i], tmin) || strstr(t->w[i], LNAME))
			uses_self = 1;
	line = join(t->w, t->n);
	tg[0] = (struct tgt){ t->start, t->len, line };
	oracle_table(t->w, t->n, t->start, t->len, &e[0]);
	t->resume = !uses_self && rn(8) == 0;
	if (e[0].v == V_ACCEPT && t->len >= 16 && rn(15) == 0) {
		/* Two backup targets side by side, the second one canonical. */
		unsigned long long a = t->len / 2;
		char *w2[12];
		int n2 = 0;
		char buf[600], *tok, *save;

		t->ntargets = 2;
		tg[0].len = a;
		oracle_table(t->w, t->n, 0, a, &e[0]);
		snprintf(buf, sizeof(buf), "%s", e[0].canon);
		for (tok = strtok_r(buf, " ", &save); tok && n2 < 12;
		     tok = strtok_r(NULL, " ", &save))
			w2[n2++] = tok;
		snprintf(params2, sizeof(params2), "%s", e[0].canon);
		tg[1] = (struct tgt){ a, t->len - a, params2 };
		/* The second target's oracle: same words, its own length. */
		oracle_table(w2, n2, 0, t->len - a, &e[1]);
		/* Two targets may not write one backup device. */
		if (e[0].v == V_ACCEPT && e[1].v == V_ACCEPT) {
			e[0].v = V_REFUSE;
			e[0].msg = "Backup device is used by two targets of the table";
		}
	}
	if (show) {
		printf("case %lu: table %s: start %llu len %llu ",
		       idx, vname[e[0].v], t->start, t->len);
		printf("targets %d resume %d: '%.300s'%s -> %s%s%s %s\n",
		       t->ntargets, t->resume,
		       line, strlen(line) > 300 ? "..." : "", vname[e[0].v],
		       e[0].msg ? ": " : "", e[0].msg ? e[0].msg : "", e[0].canon);
		return;
	}
	n_case[0][e[0].v]++;
	if (verbose)
		printf("case %lu: table '%.200s' -> %s %s\n", idx, line, vname[e[0].v],
		       e[0].msg ? e[0].msg : e[0].canon);
	kmsg_drain();
	r = dm_load(TNAME, tg, t->ntargets);
	log = kmsg_drain();
	if (dm_flags(TNAME, &fl, NULL)) {
		BAD("fuzz device vanished after load (r=%d)", r);
		recreate_t();
		return;
	}
	if (r) {
		if (fl & DM_INACTIVE_PRESENT_FLAG)
			BAD("refused load (%d) left an inactive table", r);
		if (e[0].v == V_ACCEPT) {
			BAD("refused (%s) a valid table: '%.300s' (log: %.300s)",
			    strerror(-r), line, log);
			return;
		}
		if (e[0].msg && !strstr(log, e[0].msg))
			BAD("refused '%.300s' but the log lacks '%s': %.400s", line,
			    e[0].msg, log);
		return;
	}
	if (e[0].v == V_REFUSE) {
		BAD("accepted an invalid table (%s): '%.300s'",
		    e[0].msg ? e[0].msg : "dm core", line);
		dm_simple(DM_TABLE_CLEAR, TNAME, 0);
		return;
	}
	if (!(fl & DM_INACTIVE_PRESENT_FLAG))
		BAD("load succeeded without an inactive table");
	if (e[0].v == V_EITHER)
		n_either_acc++;
	for (i = 0; i < t->ntargets; i++) {
		got = dm_status(TNAME, 1, 1, i, &nt);
		if (!got || nt != t->ntargets) {
			BAD("no table status for target %d", i);
			break;
		}
		if (e[i].v == V_ACCEPT && strcmp(got, e[i].canon))
			BAD("target %d of '%.300s' reads back '%s', want '%s'", i, line,
			    got, e[i].canon);
		if (i == 0)
			snprintf(canon0, sizeof(canon0), "%s", got);
		got = dm_status(TNAME, 0, 1, i, NULL);
		if (e[i].v == V_ACCEPT) {
			char want[64];
			unsigned long long len = i ? tg[1].len : tg[0].len;

			if (e[i].mode == 0)
				snprintf(want, sizeof(want), "full running 0/%llu %llu ",
					 (len + e[i].chunk - 1) / e[i].chunk, e[i].chunk);
			else
				snprintf(want, sizeof(want), "%s running ", modes[e[i].mode]);
			if (!got || strncmp(got, want, strlen(want)))
				BAD("inactive status '%s', want '%s...'", got ? got : "(none)",
				    want);
		}
	}
	/* The canonical line recreates the same table. */
	if (t->ntargets == 1) {
		struct tgt c = { 0, t->len, canon0 };

		if (dm_load(TNAME, &c, 1)) {
			BAD("canonical line '%s' refused: %s", canon0, kmsg_drain());
		} else {
			got = dm_status(TNAME, 1, 1, 0, NULL);
			if (!got || strcmp(got, canon0))
				BAD("canonical line '%s' reads back '%s'", canon0, got ? got : "");
		}
	}
	if (t->resume) {
		if (dm_simple(DM_DEV_SUSPEND, TNAME, 0)) {
			BAD("resume of an accepted table failed: %s", kmsg_drain());
		} else {
			char w1[32], w2[32];

			got = dm_status(TNAME, 0, 0, 0, NULL);
			if (!got || sscanf(got, "%31s %31s", w1, w2) != 2 ||
			    strcmp(w1, modes[e[0].mode]) ||
			    (strcmp(w2, "running") && strcmp(w2, "completed")))
				BAD("resumed status '%s'", got ? got : "(none)");
		}
		if (recreate_t())
			BAD("cannot recreate the fuzz device");
		return;
	}
	if (dm_simple(DM_TABLE_CLEAR, TNAME, 0))
		BAD("table clear failed");
}

/* Live device: state word and speed from its status. */
static int live_state(char *state, size_t sz, unsigned long long *speed)
{
	const char *s = dm_status(LNAME, 0, 0, 0, NULL);
	char st[32];
	unsigned long long f[12];

	if (!s || sscanf(s, "full %31s %llu/%llu %llu %llu %llu %lld %llu %llu %llu %llu %llu",
			 st, &f[0], &f[1], &f[2], &f[3], &f[4], (long long *)&f[5], &f[6],
			 &f[7], &f[8], &f[9], &f[10]) != 12)
		return -1;
	snprintf(state, sz, "%s", st);
	*speed = f[10];
	return 0;
}

static int active(const char *st)
{
	return !strcmp(st, "running") || !strcmp(st, "paused");
}

static void check_live_speed(unsigned long idx, unsigned long long want, const char *what)
{
	char st[32], canon[256];
	unsigned long long sp;
	const char *tb;

	if (live_state(st, sizeof(st), &sp)) {
		BAD("%s: no status of the live device", what);
		return;
	}
	if (sp != want)
		BAD("%s: speed is %llu, want %llu", what, sp, want);
	if (want)
		snprintf(canon, sizeof(canon), "%s %s full 2 speed %llu", D[3].mm,
			 D[4].mm, want);
	else
		snprintf(canon, sizeof(canon), "%s %s full", D[3].mm, D[4].mm);
	tb = dm_status(LNAME, 1, 0, 0, NULL);
	if (!tb || strcmp(tb, canon))
		BAD("%s: table '%s', want '%s'", what, tb ? tb : "", canon);
}

static void run_msg(unsigned long idx, int show)
{
	static const char * const kw[] = { "cancel", "pause", "resume", "speed" };
	char *w[64], *msg, st[32], st2[32];
	int n = 0, i, r, kind;
	unsigned long long sector = 0, sp, sp2, nv = 0;
	enum verdict v = V_REFUSE;

	switch (rn(10)) {
	case 0:
		sector = rnd() >> rn(64);
		break;
	case 1:
		sector = D[3].sectors - 1;
		break;
	case 2:
		sector = D[3].sectors;
		break;
	}
	kind = rn(10);
	if (kind < 6) {
		w[n++] = recase(kw[rn(4)]);
		if (!strcasecmp(w[0], "speed"))
			w[n++] = pct(80) ? (pct(50) ? pstr("%u", rn(1 << 22)) : number()) :
				junk(10);
		if (pct(10))
			w[n++] = pct(50) ? number() : junk(8);
	} else if (kind < 8) {
		n = rn(4);
		for (i = 0; i < n; i++)
			w[i] = pct(30) ? recase(kw[rn(4)]) : (pct(50) ? number() : junk(12));
	} else if (kind < 9) {
		w[n++] = junk(1 + rn(3000));
	} else {
		n = 1 + rn(60);
		for (i = 0; i < n; i++)
			w[i] = pct(50) ? recase(kw[rn(4)]) : number();
	}
	msg = join(w, n);
	if (show) {
		printf("case %lu: message sector %llu: '%.300s'\n", idx, sector, msg);
		return;
	}
	if (live_state(st, sizeof(st), &sp)) {
		BAD("live device has no status");
		return;
	}
	if (sector < D[3].sectors && n >= 1) {
		if (n == 1 && !strcasecmp(w[0], "cancel"))
			v = V_ACCEPT;
		else if (n == 1 && (!strcasecmp(w[0], "pause") || !strcasecmp(w[0], "resume")))
			v = active(st) ? V_ACCEPT : V_REFUSE;
		else if (n == 2 && !strcasecmp(w[0], "speed") && kstrtou64_ok(w[1], &nv))
			v = V_ACCEPT;
	}
	n_case[1][v]++;
	r = dm_msg(LNAME, sector, msg);
	if (live_state(st2, sizeof(st2), &sp2)) {
		BAD("live device has no status after '%.200s'", msg);
		return;
	}
	if (v == V_ACCEPT && r) {
		/* pause/resume race the end of the job */
		if (!(n == 1 && strcasecmp(w[0], "cancel") && !active(st2)))
			BAD("message '%.200s' (state %s) refused: %s", msg, st, strerror(-r));
	} else if (v == V_REFUSE && !r) {
		BAD("message '%.200s' (state %s, sector %llu) accepted", msg, st, sector);
	}
	if (!r && v == V_ACCEPT) {
		if (!strcasecmp(w[0], "cancel") &&
		    strcmp(st2, active(st) ? "cancelled" : st) &&
		    !(active(st) && !strcmp(st2, "completed")))
			BAD("cancel in state %s gave state %s", st, st2);
		if (!strcasecmp(w[0], "pause") && strcmp(st2, "paused"))
			BAD("pause in state %s gave state %s", st, st2);
		if (!strcasecmp(w[0], "resume") && strcmp(st2, "running") &&
		    strcmp(st2, "completed"))
			BAD("resume in state %s gave state %s", st, st2);
		if (n == 2)
			check_live_speed(idx, nv, msg);
		else if (sp2 != sp)
			BAD("'%s' changed speed %llu -> %llu", msg, sp, sp2);
	} else {
		if (sp2 != sp)
			BAD("refused '%.200s' changed speed %llu -> %llu", msg, sp, sp2);
		if (strcmp(st, st2) && !(active(st) && !strcmp(st2, "completed")))
			BAD("refused '%.200s' changed state %s -> %s", msg, st, st2);
	}
	/* Now and then a fresh job, so that pause/resume meet a live one. */
	if (!active(st2) && rn(4) == 0 && live_create())
		BAD("cannot recreate the live device");
}

/* The sysfs speed parser as documented by test_41: number, K/M/G suffix. */
static enum verdict oracle_sysfs(const char *buf, size_t len, unsigned long long *v)
{
	char num[64];
	unsigned int shift = 0;

	if (len == 0)
		return V_ACCEPT;	/* sysfs: an empty write does nothing */
	if (len > 4096)
		return V_REFUSE;
	if (buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] && strchr("KkMmGg", buf[len - 1])) {
		char c = tolower(buf[len - 1]);

		shift = c == 'k' ? 10 : c == 'm' ? 20 : 30;
		len--;
	}
	if (!len)
		return V_REFUSE;
	if (memchr(buf, 0, len))
		return V_EITHER;	/* kstrtou64 stops at the NUL: undocumented */
	if (len >= 24)
		return V_EITHER;	/* longer than any u64: refused, undocumented */
	memcpy(num, buf, len);
	num[len] = 0;
	if (num[0] == '+' || !kstrtou64_ok(num, v) || *v > (UINT64_MAX >> shift))
		return V_REFUSE;
	*v <<= shift;
	return V_ACCEPT;
}

static void run_sysfs(unsigned long idx, int show)
{
	char path[128], buf[8192], cur[64];
	size_t len;
	unsigned long long nv = 0, sp, sp2;
	enum verdict v;
	uint32_t fl, mi;
	int fd, r, ro = rn(20) == 0;
	ssize_t wr;
	char st[32];

	switch (rn(12)) {
	case 0:
		len = 0;
		break;
	case 1:
		len = snprintf(buf, sizeof(buf), "%s", junk(12));
		break;
	case 2:
		len = snprintf(buf, sizeof(buf), "%s%s", number(), pct(50) ? "\n" : "");
		break;
	case 3:
		len = 5000;
		memset(buf, '1', len);
		break;
	case 4:
		len = 24 + rn(40);
		memset(buf, '0', len);
		buf[len - 1] = '7';
		break;
	case 5:
		len = snprintf(buf, sizeof(buf), "%c%u%s", " +-\t"[rn(4)], rn(1000),
			       pct(50) ? "\n" : "");
		break;
	case 6:
		len = snprintf(buf, sizeof(buf), "%u\n\n", rn(1000));
		break;
	case 7:
		/* with the NUL */
		len = snprintf(buf, sizeof(buf), "%u", rn(100)) + 1;
		break;
	case 8:
		len = snprintf(buf, sizeof(buf), "%llu%c%s", rnd() >> rn(64),
			       "KkMmGgTtPx\n"[rn(11)], pct(50) ? "\n" : "");
		break;
	case 9:
		len = snprintf(buf, sizeof(buf), "%u%c", rn(1 << 20), "KkMmGg"[rn(6)]);
		break;
	default:
		len = snprintf(buf, sizeof(buf), "%u%s", rn(1 << 24), pct(70) ? "\n" : "");
		break;
	}
	if (show) {
		printf("case %lu: sysfs %s write of %zu bytes: '%.*s'\n", idx,
		       ro ? "state" : "speed", len, (int)(len > 200 ? 200 : len), buf);
		return;
	}
	if (dm_flags(LNAME, &fl, &mi) || live_state(st, sizeof(st), &sp)) {
		BAD("live device missing");
		return;
	}
	snprintf(path, sizeof(path), "/sys/block/dm-%u/backup/%s", mi, ro ? "state" : "speed");
	v = ro ? (len ? V_REFUSE : V_ACCEPT) : oracle_sysfs(buf, len, &nv);
	n_case[2][v]++;
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		if (!ro)
			BAD("cannot open %s: %s", path, strerror(errno));
		return;
	}
	wr = write(fd, buf, len);
	r = wr < 0 ? -errno : 0;
	close(fd);
	if (!r && wr != (ssize_t)len)
		BAD("short sysfs write %zd of %zu", wr, len);
	live_state(st, sizeof(st), &sp2);
	if (v == V_ACCEPT && r)
		BAD("sysfs write '%.*s' (%zu bytes) refused: %s", (int)(len > 64 ? 64 : len),
		    buf, len, strerror(-r));
	if (v == V_REFUSE && !r)
		BAD("sysfs write '%.*s' (%zu bytes) accepted", (int)(len > 64 ? 64 : len),
		    buf, len);
	if (!r && len && !ro) {
		if (v == V_EITHER)
			n_either_acc++;
		else
			check_live_speed(idx, nv, "sysfs");
	} else if (sp2 != sp) {
		BAD("sysfs write '%.*s' changed speed %llu -> %llu",
		    (int)(len > 64 ? 64 : len), buf, sp, sp2);
	}
	/* The file reads back the speed. */
	snprintf(path, sizeof(path), "/sys/block/dm-%u/backup/speed", mi);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, cur, sizeof(cur) - 1);

		close(fd);
		cur[n > 0 ? n : 0] = 0;
		if (strtoull(cur, NULL, 10) != sp2)
			BAD("sysfs speed reads '%s', status says %llu", cur, sp2);
	} else {
		BAD("cannot read %s", path);
	}
}

static void one_case(unsigned long idx, int show)
{
	static struct tcase t;
	unsigned int k;

	rs = g_seed * 1000003ULL + idx * 0x9e3779b97f4a7c15ULL;
	pool_used = 0;
	k = rn(100);
	if (k < 70) {
		gen_table(&t);
		run_table(idx, &t, show);
	} else if (k < 88) {
		run_msg(idx, show);
	} else {
		run_sysfs(idx, show);
	}
}

static int setup(int argc, char **argv, int need_dm)
{
	int i;

	for (i = 0; i < 5; i++)
		if (dev_init(&D[i], argv[i])) {
			fprintf(stderr, "dmbt-fuzz: %s: not a usable block device\n", argv[i]);
			return -1;
		}
	if (!(D[1].sectors > D[0].sectors && D[2].sectors < D[0].sectors)) {
		fprintf(stderr, "dmbt-fuzz: want size(small) < size(origin) < size(backup)\n");
		return -1;
	}
	(void)argc;
	strcpy(tmin, "254:9999");
	if (!need_dm)
		return 0;
	ctl = open("/dev/mapper/control", O_RDWR);
	if (ctl < 0) {
		perror("/dev/mapper/control");
		return -1;
	}
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	if (recreate_t() || live_create()) {
		fprintf(stderr, "dmbt-fuzz: cannot create the dm devices: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long i, first = 0, count;
	struct timespec a, b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	verbose = !!getenv("DMBT_FUZZ_VERBOSE");
	if (argc == 10 && !strcmp(argv[1], "run")) {
		/* run <seed> <first> <count> ...: a range of cases */
		first = strtoul(argv[3], NULL, 0);
		argv[3] = argv[2];
		argv[2] = argv[1];
		argv++;
		argc--;
	}
	if (argc == 9 && !strcmp(argv[1], "run")) {
		g_seed = strtoull(argv[2], NULL, 0);
		count = strtoul(argv[3], NULL, 0);
		if (setup(5, argv + 4, 1))
			return 2;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = first; i < first + count; i++)
			one_case(i, 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		dm_simple(DM_DEV_REMOVE, TNAME, 0);
		dm_simple(DM_DEV_REMOVE, LNAME, 0);
		/* One line, in parts. */
		printf("dmbt-fuzz: seed %llu: %lu cases in %.1fs: ", g_seed, count,
		       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
		printf("table %lu refused/%lu accepted/%lu either, ",
		       n_case[0][0], n_case[0][1], n_case[0][2]);
		printf("message %lu/%lu, sysfs %lu/%lu/%lu (%lu 'either' accepted); ",
		       n_case[1][0], n_case[1][1], n_case[2][0], n_case[2][1], n_case[2][2],
		       n_either_acc);
		printf("%lu notes, %lu mismatches\n", n_note, n_bad);
		return n_bad ? 1 : 0;
	}
	if (argc == 10 && !strcmp(argv[1], "show")) {
		g_seed = strtoull(argv[2], NULL, 0);
		first = strtoul(argv[3], NULL, 0);
		count = strtoul(argv[4], NULL, 0);
		if (setup(5, argv + 5, 0))
			return 2;
		for (i = first; i < first + count; i++)
			one_case(i, 1);
		return 0;
	}
	if (argc == 9 && !strcmp(argv[1], "lines")) {
		static struct tcase t;
		struct expect e;

		g_seed = strtoull(argv[2], NULL, 0);
		count = strtoul(argv[3], NULL, 0);
		if (setup(5, argv + 4, 0))
			return 2;
		for (i = 0; i < count; i++) {
			char *line;

			rs = g_seed * 1000003ULL + i * 0x9e3779b97f4a7c15ULL;
			pool_used = 0;
			gen_table(&t);
			line = join(t.w, t.n);
			if (t.start || !t.n || strlen(line) > 2000 || strchr(line, '\t') ||
			    strchr(line, '\'') || strchr(line, '"'))
				continue;
			oracle_table(t.w, t.n, 0, t.len, &e);
			if (!strcmp(t.w[0], tmin) || !strcmp(t.w[t.n > 1], tmin))
				continue;
			printf("%s\t%s\t%llu %llu backup %s\n", vname[e.v],
			       e.v == V_ACCEPT ? e.canon : "-", t.start, t.len, line);
		}
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of dmbt-fuzz.c\n");
	return 2;
}
