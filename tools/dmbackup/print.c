// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: the one-line report of a job that status, wait and the
 * messages print, and its units.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmbackup.h"

const char *human(double bytes, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int i = 0;

	while (bytes >= 1024 && i < 5) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, unit[i]);
	return buf;
}

const char *hms(double secs, char *buf, size_t len)
{
	unsigned long s = secs < 0 ? 0 : (unsigned long)(secs + 0.5);

	snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	return buf;
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- a job's line ------------------------------------------------------- */

/* print_job - one line per job; @rate < 0 when unknown. */
void print_job(FILE *f, const char *name, const struct bstatus *s, double rate)
{
	double bytes = (double)s->chunk_sectors * 512;
	/* An increment of an empty record copies nothing: done. */
	double pct = s->total ? 100.0 * s->copied / s->total : 100.0;
	uint64_t errors = s->source_errors + s->target_errors;
	char a[32], b[32], c[32], d[32];

	fprintf(f, "%s: %s %s %.1f%% %" PRIu64 "/%" PRIu64 " chunks (%s/%s)", name,
		s->mode, s->state, pct, s->copied, s->total, human(s->copied * bytes, a, 32),
		human(s->total * bytes, b, 32));
	if (!job_ended(s)) {
		if (rate > 0)
			fprintf(f, " rate %s/s ETA %s", human(rate, c, 32),
				hms((s->total - s->copied) * bytes / rate, d, 32));
		else if (rate == 0)
			fprintf(f, " rate 0 B/s ETA -");
		if (s->speed)
			fprintf(f, " speed %s/s", human(s->speed, c, 32));
		else
			fprintf(f, " speed unlimited");
	}
	fprintf(f, " cbw %" PRIu64 " zero %" PRIu64 " errors %" PRIu64, s->cbw, s->zero,
		errors);
	if (errors || s->skipped || s->last_error)
		fprintf(f, " (source %" PRIu64 ", target %" PRIu64 ", skipped %" PRIu64
			", last %" PRId64 " at chunk %" PRIu64 ")", s->source_errors,
			s->target_errors, s->skipped, s->last_error, s->last_error_chunk);
	/*
	 * A kernel with persistent jobs: which job, and whether its state
	 * survives the table (persistent: on a metadata device, start --meta).
	 * Before the sentences below, which end the line.
	 */
	if (s->uuid[0])
		fprintf(f, " job %s %s", s->uuid, s->persistence);
	/* A tracking job: the size of the next increment. */
	if (!strcmp(s->changed, "lost"))
		fprintf(f, " tracking: record lost (no increment possible: start a "
			"full backup)");
	else if (job_tracks(s))
		fprintf(f, " tracking: %s chunks (%s) changed since the point in time",
			s->changed, human(strtoull(s->changed, NULL, 10) * bytes, c, 32));
	/* -ETIMEDOUT: the stall watchdog (cbw_timeout) or a stalled suspend. */
	if (s->last_error == -ETIMEDOUT && strcmp(s->state, "completed"))
		fprintf(f, " %s", !strcmp(s->state, "failed") ?
			"- failed: the backup device stalled (a copy outlasted cbw_timeout)" :
			"- writes failed: the backup device stalled past cbw_timeout");
	/*
	 * The counters and the last error stay after the walk retried the
	 * chunks that failed (the stop policy and resume): say that they did
	 * not cost the backup anything.
	 */
	if ((errors || s->last_error) && !s->skipped && !strcmp(s->state, "completed"))
		fprintf(f, " - errors recovered, the backup is complete");
	fputc('\n', f);
}
