// SPDX-License-Identifier: GPL-2.0-only
/*
 * The jobs to reinstate after a boot: one small file per volume whose
 * backup job tracks changes, $DMBACKUP_JOBS_DIR/<volume>.conf (default
 * /etc/dmbackup/jobs), written by start --track and start --incremental,
 * removed by finish --stop-tracking, read by reinstate.  It holds only
 * what the metadata device does not: the devices' paths and the table's
 * optional arguments.  The job itself (sync mode, the increment's parent)
 * is read from the metadata device at reinstate time, so that the file
 * never goes stale as increments follow each other.
 *
 *   # dmbackup: a change-tracking job, for dmbackup reinstate
 *   volume=vol
 *   meta=/dev/loop3
 *   backup=/dev/loop2
 *   options=speed 1048576 chunk_size 256
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmbackup.h"

#define JOBS_DIR "/etc/dmbackup/jobs"

const char *jobconf_dir(void)
{
	const char *d = getenv("DMBACKUP_JOBS_DIR");

	return d && *d ? d : JOBS_DIR;
}

/* mkdir_p - create @dir and its parents. */
static bool mkdir_p(const char *dir)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return false;
		*p = '/';
	}
	return !mkdir(buf, 0755) || errno == EEXIST;
}

/*
 * keep_options - the optional arguments of table arguments @targs
 * ("<mode> [<#opts> <key> <value>...]") that reinstate passes on: all but
 * meta, track, map and increment, which it sets from the metadata.
 */
static void keep_options(const char *targs, char *out, size_t len)
{
	char *copy = strdup(targs), *save = NULL, *key, *val;
	size_t l = 0;

	*out = '\0';
	if (!copy)
		return;
	strtok_r(copy, " ", &save);			/* the mode */
	strtok_r(NULL, " ", &save);			/* the count */
	while ((key = strtok_r(NULL, " ", &save)) &&
	       (val = strtok_r(NULL, " ", &save))) {
		if (!strcmp(key, "meta") || !strcmp(key, "track") ||
		    !strcmp(key, "map") || !strcmp(key, "increment"))
			continue;
		l += snprintf(out + l, len - l, "%s%s %s", l ? " " : "", key, val);
		if (l >= len) {
			*out = '\0';
			break;
		}
	}
	free(copy);
}

/*
 * jobconf_save - remember the tracking job on @volume: its metadata and
 * backup devices and the optional arguments of its table arguments
 * @targs.  A failure only costs the reinstate after a boot: warn.
 */
void jobconf_save(const char *volume, const char *meta, const char *backup,
		  const char *targs)
{
	char path[4096], tmp[4200], opts[512];
	const char *dir = jobconf_dir();
	FILE *f;

	keep_options(targs, opts, sizeof(opts));
	snprintf(path, sizeof(path), "%s/%s.conf", dir, volume);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (!mkdir_p(dir) || !(f = fopen(tmp, "w"))) {
		err("warning: cannot write %s: %s; dmbackup reinstate will not "
		    "know this job after a reboot", path, strerror(errno));
		return;
	}
	fprintf(f, "# dmbackup: a change-tracking job, for dmbackup reinstate\n"
		"volume=%s\nmeta=%s\nbackup=%s\noptions=%s\n",
		volume, meta, backup, opts);
	/* Written whole, then renamed: a crash leaves the old or the new. */
	if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, path)) {
		err("warning: cannot write %s: %s; dmbackup reinstate will not "
		    "know this job after a reboot", path, strerror(errno));
		unlink(tmp);
		return;
	}
	printf("%s: recorded in %s for dmbackup reinstate\n", volume, path);
}

/* jobconf_remove - forget the tracking job on @volume. */
void jobconf_remove(const char *volume)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.conf", jobconf_dir(), volume);
	if (unlink(path) && errno != ENOENT)
		err("warning: cannot remove %s: %s", path, strerror(errno));
}

/*
 * jobconf_load - read @path into @jc; false (and says why) if a field is
 * missing.
 */
bool jobconf_load(const char *path, struct jobconf *jc)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	memset(jc, 0, sizeof(*jc));
	if (!f) {
		err("%s: %s", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || !eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "volume"))
			snprintf(jc->volume, sizeof(jc->volume), "%s", eq);
		else if (!strcmp(line, "meta"))
			snprintf(jc->meta, sizeof(jc->meta), "%s", eq);
		else if (!strcmp(line, "backup"))
			snprintf(jc->backup, sizeof(jc->backup), "%s", eq);
		else if (!strcmp(line, "options"))
			snprintf(jc->options, sizeof(jc->options), "%s", eq);
	}
	fclose(f);
	if (!jc->volume[0] || !jc->meta[0] || !jc->backup[0]) {
		err("%s: needs volume=, meta= and backup= lines", path);
		return false;
	}
	return true;
}
