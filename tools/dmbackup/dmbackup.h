/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmbackup: what the files of the CLI share (dmbackup.c: the dm commands
 * and the command line; map.c: the map command).
 */
#ifndef DMBACKUP_H
#define DMBACKUP_H

#include <getopt.h>
#include <stdbool.h>

/* Exit codes (documented in dmbackup.8). */
enum {
	EX_OK = 0,		/* success; wait: the job completed */
	EX_ERR = 1,		/* refused or failed; the volume is unchanged */
	EX_USAGE = 2,		/* bad command line */
	EX_JOB_FAILED = 3,	/* wait: the job failed */
	EX_JOB_CANCELLED = 4,	/* wait: the job was cancelled */
	EX_JOB_SKIPPED = 5,	/* wait: completed, but chunks were skipped */
};

void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * struct cmd_line - the command line of one subcommand, for parse_args().
 * Every subcommand takes -h/--help on top of @opts.  An option with a
 * printable val also has that letter as its short form.
 */
#define CMD_MAX_POS 2
struct cmd_line {
	const char *name;		/* "start" */
	const char *usage;		/* for --help (stdout), errors (stderr) */
	const struct option *opts;	/* NULL-terminated; NULL: none */
	int min_pos, max_pos;		/* positional arguments */
	/* Takes option @key (its val) with @arg; returns EX_OK or an exit code. */
	int (*opt)(void *ctx, int key, const char *arg);
	void *ctx;
	const char *pos[CMD_MAX_POS];	/* out: the positional arguments */
	int npos;
};

/* parse_args() found nothing wrong and no --help: run the command. */
#define ARGS_OK (-1)
int parse_args(struct cmd_line *cl, int argc, char **argv);

/* map.c */
int cmd_map(int argc, char **argv);

#endif
