// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup status and wait: the jobs' progress, once or until the job ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmbackup.h"

/* ---- status ------------------------------------------------------------- */

static const char status_usage[] =
"usage: dmbackup status [--interval SECONDS] [<volume>...]\n"
"\n"
"Show every backup job (every dm device whose table has a backup target),\n"
"or those on the <volume>s (a group's): mode, state, progress, copied/total\n"
"chunks, rate and ETA, copy-before-write and zero chunks, errors.  The rate\n"
"is measured over --interval seconds (default 1; 0 skips it) while a job\n"
"runs.\n";

struct job {
	char name[DM_NAME_LEN];
	struct bstatus s;
};

struct job_list {
	struct job *jobs;
	int n;
	int orphans;
};
/* collect_job - for_each_dm_device(): add @name to the list if it runs a job. */
static void collect_job(const char *name, void *ctx)
{
	struct job_list *jl = ctx;
	struct table st;
	int bi;

	if (!read_table(name, DM_DEVICE_STATUS, &st))
		return;
	bi = backup_target(&st);
	if (bi < 0 && is_orphan(name)) {
		printf("%s: no backup job, but %s%s is left: %s\n",
		       name, name, HIDDEN_SUFFIX, ORPHAN_HINT);
		jl->orphans++;
	}
	if (bi >= 0) {
		jl->jobs = realloc(jl->jobs, (jl->n + 1) * sizeof(*jl->jobs));
		if (!jl->jobs) {
			err("out of memory");
			exit(EX_ERR);
		}
		snprintf(jl->jobs[jl->n].name, DM_NAME_LEN, "%s", name);
		if (parse_status(st.t[bi].params, &jl->jobs[jl->n].s))
			jl->n++;
	}
	table_free(&st);
}

int cmd_status(int argc, char **argv)
{
	double interval = 1, t0, t1;
	struct cmd_line cl = {
		.name = "status", .usage = status_usage, .opts = interval_opts,
		.min_pos = 0, .max_pos = CMD_MAX_POS, .opt = interval_opt,
		.ctx = &interval,
	};
	struct job *jobs = NULL;
	int njobs = 0, orphans = 0, i;
	bool running = false;

	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	if (cl.npos) {
		jobs = calloc(cl.npos, sizeof(*jobs));
		for (njobs = 0; jobs && njobs < cl.npos; njobs++) {
			struct volume v;

			if (!resolve_volume(cl.pos[njobs], &v) ||
			    !job_status(&v, &jobs[njobs].s, NULL))
				break;
			snprintf(jobs[njobs].name, sizeof(jobs[njobs].name), "%s",
				 v.name);
		}
		if (!jobs || njobs < cl.npos) {
			free(jobs);
			return EX_ERR;
		}
	} else {
		struct job_list jl = { NULL, 0, 0 };

		if (!for_each_dm_device(collect_job, &jl)) {
			free(jl.jobs);
			return EX_ERR;
		}
		jobs = jl.jobs;
		njobs = jl.n;
		orphans = jl.orphans;
	}
	if (!njobs) {
		if (!orphans)
			printf("no backup jobs\n");
		free(jobs);
		return orphans ? EX_ERR : EX_OK;
	}
	for (i = 0; i < njobs; i++)
		running |= !job_ended(&jobs[i].s);
	t0 = now();
	if (running && interval > 0) {
		struct timespec ts = { (time_t)interval,
				       (long)((interval - (time_t)interval) * 1e9) };

		nanosleep(&ts, NULL);
	}
	t1 = now();
	for (i = 0; i < njobs; i++) {
		struct bstatus s2 = jobs[i].s;
		struct table st;
		double rate = -1;

		if (running && interval > 0 && read_table(jobs[i].name, DM_DEVICE_STATUS, &st)) {
			int bi = backup_target(&st);

			if (bi >= 0 && parse_status(st.t[bi].params, &s2) &&
			    s2.copied >= jobs[i].s.copied)
				rate = (s2.copied - jobs[i].s.copied) * s2.chunk_sectors *
				       512.0 / (t1 - t0);
			table_free(&st);
		}
		print_job(stdout, jobs[i].name, &s2, rate);
		export_status(stdout, jobs[i].name);
	}
	free(jobs);
	return orphans ? EX_ERR : EX_OK;
}

/* ---- wait --------------------------------------------------------------- */

/*
 * The waiter thread sleeps in DM_DEVICE_WAITEVENT (as dmeventd's threads
 * do) and writes a byte to a pipe for every dm event: the main thread
 * re-reads the status only then, or when it redraws the progress display.
 */
struct waiter {
	char name[DM_NAME_LEN];
	uint32_t event_nr;
	int fd;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;
	uint32_t ev = w->event_nr;

	dm_quiet_thread();	/* the main thread reports a vanished device */

	for (;;) {
		char c = wait_event(w->name, &ev) ? 'e' : 'x';

		if (write(w->fd, &c, 1) != 1 || c == 'x')
			return NULL;
	}
}

static const char wait_usage[] =
"usage: dmbackup wait [--interval SECONDS] <volume>...\n"
"\n"
"Wait for the backup job on <volume> to end, sleeping on dm events.  On a\n"
"terminal, shows a progress bar (percentage, rate, ETA); otherwise prints a\n"
"plain line at the start, at every event and every --interval seconds\n"
"(default 10; 0: only at events).  Exit code: 0 completed, 3 failed,\n"
"4 cancelled, 5 completed with skipped chunks, 1 error.  With several\n"
"volumes (a group), waits for each job in turn, and exits with the code\n"
"of the first that did not end with 0.\n";

/*
 * wait_one - wait for the job on volume @vol_arg to end; @w: its waiter,
 * which outlives the call (detached, it may sit in its ioctl until exit).
 */
static int wait_one(const char *vol_arg, double interval, struct waiter *w)
{
	double t_prev, rate = -1;
	struct volume v;
	struct bstatus s;
	pthread_t thr;
	int pfd[2] = { -1, -1 }, timeout;
	uint64_t c_prev;
	bool tty = isatty(STDOUT_FILENO), drawn = false;

	if (!resolve_volume(vol_arg, &v))
		return EX_ERR;
	/* The event number first, then the status: no event can be missed. */
	if (!get_info(v.name, &v.info) || !job_status(&v, &s, NULL))
		return EX_ERR;
	if (!job_ended(&s)) {
		snprintf(w->name, sizeof(w->name), "%s", v.name);
		w->event_nr = v.info.event_nr;
		/*
		 * The pipe stays open until the process exits: the detached
		 * waiter may sit in its ioctl and write to it at any time
		 * (into a closed read end, it would raise SIGPIPE).
		 */
		if (pipe(pfd)) {
			err("cannot start the event waiter");
			return EX_ERR;
		}
		w->fd = pfd[1];
		if (pthread_create(&thr, NULL, waiter_thread, w)) {
			close(pfd[0]);
			close(pfd[1]);
			err("cannot start the event waiter");
			return EX_ERR;
		}
		pthread_detach(thr);
		if (!tty)
			print_job(stdout, v.name, &s, -1);
		fflush(stdout);
	}
	/*
	 * A table replaced under the job (lvchange --refresh) raises no dm
	 * event: look every 10 s even when only events are to be printed.
	 */
	timeout = tty ? 1000 : interval > 0 ? (int)(interval * 1000) : 10000;
	t_prev = now();
	c_prev = s.copied;
	while (!job_ended(&s)) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		double t;
		char c;

		if (poll(&p, 1, timeout) < 0 && errno != EINTR) {
			err("poll: %s", strerror(errno));
			return EX_ERR;
		}
		if (p.revents) {
			if (read(pfd[0], &c, 1) != 1 || c == 'x') {
				if (drawn)
					fputc('\n', stdout);
				err("%s: waiting for events failed (device removed?)", v.name);
				return EX_ERR;
			}
		}
		if (!job_status(&v, &s, NULL)) {
			if (drawn)
				fputc('\n', stdout);
			/* The job was there: it is gone unfinished. */
			return EX_JOB_FAILED;
		}
		t = now();
		if (t - t_prev >= 0.5 && s.copied >= c_prev) {
			double r = (s.copied - c_prev) * s.chunk_sectors * 512.0 / (t - t_prev);

			rate = rate < 0 ? r : 0.5 * rate + 0.5 * r;
			t_prev = t;
			c_prev = s.copied;
		}
		if (job_ended(&s))
			break;
		if (tty) {
			char r[32], e[32], bar[31];
			int fill = s.total ? (int)(30 * s.copied / s.total) : 30;

			memset(bar, '#', fill);
			memset(bar + fill, '-', 30 - fill);
			bar[30] = 0;
			printf("\r%s [%s] %5.1f%% %s/s ETA %s %s\033[K", v.name, bar,
			       s.total ? 100.0 * s.copied / s.total : 100.0,
			       human(rate > 0 ? rate : 0, r, 32),
			       rate > 0 ? hms((s.total - s.copied) * s.chunk_sectors * 512.0 /
					      rate, e, 32) : "-", s.state);
			drawn = true;
		} else if (p.revents || interval > 0) {
			/* An event or the --interval timeout. */
			print_job(stdout, v.name, &s, rate);
		}
		fflush(stdout);
	}
	if (drawn)
		printf("\r\033[K");
	print_job(stdout, v.name, &s, -1);
	fflush(stdout);
	if (!strcmp(s.state, "completed"))
		return s.skipped ? EX_JOB_SKIPPED : EX_OK;
	if (!strcmp(s.state, "cancelled"))
		return EX_JOB_CANCELLED;
	return EX_JOB_FAILED;
}

int cmd_wait(int argc, char **argv)
{
	static struct waiter w[CMD_MAX_POS];	/* outlive the waits */
	double interval = 10;
	struct cmd_line cl = {
		.name = "wait", .usage = wait_usage, .opts = interval_opts,
		.min_pos = 1, .max_pos = CMD_MAX_POS, .opt = interval_opt,
		.ctx = &interval,
	};
	int i, r, first = EX_OK;

	i = parse_args(&cl, argc, argv);
	if (i != ARGS_OK)
		return i;
	for (i = 0; i < cl.npos; i++) {
		r = wait_one(cl.pos[i], interval, &w[i]);
		if (first == EX_OK)
			first = r;
	}
	return first;
}
