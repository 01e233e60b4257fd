// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: messages and the command line.  parse_args() reads every
 * subcommand's command line the same way; the helpers below check option
 * values and say what is wrong with them.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

static const char *prog = "dmbackup";

/* verr, err - "dmbackup: <message>" on stderr. */
void verr(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
}

/* ---- option values ------------------------------------------------------ */

/* parse_rate - "33554432", "32M", "32MiB", "1.5G", "512k/s": bytes per second. */
bool parse_rate(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno)
		return false;
	switch (tolower((unsigned char)*end)) {
	case 'k': mult = 1ULL << 10; end++; break;
	case 'm': mult = 1ULL << 20; end++; break;
	case 'g': mult = 1ULL << 30; end++; break;
	case 't': mult = 1ULL << 40; end++; break;
	}
	if (mult > 1 && *end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (!strcmp(end, "/s"))
		end += 2;
	if (*end || v * mult >= 18446744073709551615.0)
		return false;
	*out = (uint64_t)(v * mult);
	return true;
}

/* one_of - @s is one of the NULL-terminated @list. */
static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* ---- the command line ---------------------------------------------------- */

#define CMD_MAX_OPTS 15

/*
 * parse_args - the command line of a subcommand (@argv[0] is its name), the
 * same way for all of them: getopt_long, so options may come before,
 * between or after the positional arguments.  Returns ARGS_OK, or the exit
 * code for the caller to return: EX_OK after --help, EX_USAGE (with the
 * usage on stderr) for a bad command line, or what @cl->opt returned.
 */
int parse_args(struct cmd_line *cl, int argc, char **argv)
{
	struct option lopts[CMD_MAX_OPTS + 2] = {
		{ "help", no_argument, NULL, 'h' },
	};
	/* ':' first: getopt returns ':' for a missing argument, '?' else. */
	char sopts[2 * CMD_MAX_OPTS + 3] = ":h", *sp = sopts + 2;
	const struct option *o;
	int n = 1, c, r;

	for (o = cl->opts; o && o->name; o++) {
		if (n == ARRAY_SIZE(lopts) - 1)
			abort();	/* a bug: raise CMD_MAX_OPTS */
		lopts[n++] = *o;
		if (o->val < 128 && isalpha(o->val)) {
			*sp++ = o->val;
			if (o->has_arg == required_argument)
				*sp++ = ':';
		}
	}
	opterr = 0;		/* our messages name the subcommand */
	optind = 0;		/* glibc: start afresh */
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(cl->usage, stdout);
			return EX_OK;
		case ':':
			err("%s: %s needs an argument (see dmbackup %s --help)",
			    cl->name, argv[optind - 1], cl->name);
			return EX_USAGE;
		case '?':
			if (optopt)
				err("%s: unknown option -%c", cl->name, optopt);
			else
				err("%s: unknown option %s", cl->name, argv[optind - 1]);
			goto usage;
		default:
			r = cl->opt(cl->ctx, c, optarg);
			if (r != EX_OK)
				return r;
		}
	}
	cl->npos = argc - optind;
	if (cl->npos < cl->min_pos || cl->npos > cl->max_pos)
		goto usage;
	for (n = 0; n < cl->npos; n++)
		cl->pos[n] = argv[optind + n];
	return ARGS_OK;
usage:
	fputs(cl->usage, stderr);
	return EX_USAGE;
}

/* An option without an argument: @ctx is the bool it sets. */
int flag_opt(void *ctx, int key, const char *val)
{
	*(bool *)ctx = true;
	return EX_OK;
}

/* bad_value - "--OPT VAL: WANT" for an option value; the exit code. */
int bad_value(const char *opt, const char *val, const char *want)
{
	err("--%s %s: %s", opt, val, want);
	return EX_USAGE;
}

/* pick - an option whose value must be one of @list: store it in *@dst. */
int pick(const char **dst, const char *opt, const char *val,
	 const char *const *list, const char *want)
{
	*dst = val;
	return one_of(val, list) ? EX_OK : bad_value(opt, val, want);
}
const struct option interval_opts[] = {
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ NULL, 0, NULL, 0 }
};

/* --interval SECONDS of status and wait: @ctx is the double it sets. */
int interval_opt(void *ctx, int key, const char *val)
{
	double *interval = ctx;
	char *end;

	errno = 0;
	*interval = strtod(val, &end);
	if (errno || end == val || *end || *interval < 0)
		return bad_value("interval", val, "seconds, 0 or more");
	return EX_OK;
}
