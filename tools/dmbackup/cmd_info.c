// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup info: the persistent job on a metadata device, read offline
 * (meta.c): no kernel module, no dm device needed, and an image file of the
 * device will do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dmbackup.h"

static const char info_usage[] =
"usage: dmbackup info [--list changed|map] <meta_device>\n"
"\n"
"Show the persistent job on a metadata device (start --meta), or on an image\n"
"file of one, read offline: uuid, state and last error, point in time, sync\n"
"mode, chunk size, origin size, progress (copied/total chunks), counters and\n"
"the superblock's sequence number; with change tracking (start --track)\n"
"the chunks written since the point in time (or \"record lost\"), and for an\n"
"increment (start --incremental) the job it continues and its map.\n"
"--list changed|map: instead, print the chunks of that bitmap (the chunks\n"
"written since the point in time; the chunks an increment copies) as byte\n"
"ranges of the volume, \"<offset> <length>\" per run of chunks.  Exit code\n"
"(also with --list): 0 the job completed, 1 it did not (running, paused,\n"
"failed or cancelled), 2 no job on the device, the device cannot be read,\n"
"its metadata is corrupt, no such bitmap, or a bad command line.\n";

/* errno_str - "EIO (-5)" for a negative errno, "-5" if it has no name. */
static const char *errno_str(int32_t e, char *buf, size_t len)
{
	const char *name = e < 0 ? strerrorname_np(-e) : NULL;

	if (name)
		snprintf(buf, len, "%s (%" PRId32 ")", name, e);
	else
		snprintf(buf, len, "%" PRId32, e);
	return buf;
}

static void print_meta_job(const char *path, const struct meta_job *j)
{
	char uuid[40], pit[48], a[32], b[32], e[48];
	double cbytes = j->chunk_sectors * 512.0;

	meta_uuid_str(j->uuid, uuid);
	meta_pit_str(j->pit_ns, pit, sizeof(pit));
	printf("%s: dm-backup job %s\n", path, uuid);
	printf("  state:          %s\n", meta_state_name(j->state));
	if (j->last_error)
		printf("  last error:     %s at chunk %" PRIu64 "\n",
		       errno_str(j->last_error, e, sizeof(e)), j->last_error_chunk);
	printf("  point in time:  %s (%" PRIu64 " ns)\n", pit, j->pit_ns);
	printf("  sync mode:      %s\n", meta_mode_name(j->sync_mode));
	printf("  chunk size:     %" PRIu32 " sectors (%s)\n", j->chunk_sectors,
	       human(cbytes, a, sizeof(a)));
	printf("  origin size:    %" PRIu64 " sectors (%s)\n", j->origin_sectors,
	       human(j->origin_sectors * 512.0, a, sizeof(a)));
	printf("  progress:       %" PRIu64 "/%" PRIu64 " chunks (%s/%s) %.1f%%\n",
	       j->copied, j->total, human(j->copied * cbytes, a, sizeof(a)),
	       human(j->total * cbytes, b, sizeof(b)),
	       j->total ? 100.0 * j->copied / j->total : 100.0);
	printf("  counters:       cbw %" PRIu64 " zero %" PRIu64 " source errors %"
	       PRIu64 " target errors %" PRIu64 " skipped %" PRIu64 "\n",
	       j->cbw, j->zero, j->source_errors, j->target_errors, j->skipped);
	if (j->track && j->track_lost)
		printf("  tracking:       on, record lost: it misses writes, no "
		       "increment can be made (start a full backup)\n");
	else if (j->track)
		printf("  tracking:       on, %" PRIu64 " chunks (%s) changed since "
		       "the point in time\n", j->bitmap_count[MD_BITMAP_CHANGED],
		       human(j->bitmap_count[MD_BITMAP_CHANGED] * cbytes, a, sizeof(a)));
	else
		printf("  tracking:       off\n");
	if (j->increment) {
		meta_uuid_str(j->parent_uuid, uuid);
		printf("  increment of:   %s\n", uuid);
		printf("  map:            %" PRIu64 " chunks (%s)\n",
		       j->bitmap_count[MD_BITMAP_MAP],
		       human(j->bitmap_count[MD_BITMAP_MAP] * cbytes, a, sizeof(a)));
	}
	printf("  superblock:     seq %" PRIu64 " (block %d)\n", j->seq, j->sb);
}

static int list_opt(void *ctx, int key, const char *val)
{
	int *kind = ctx;

	*kind = meta_bitmap_kind(val);
	if (*kind < 0)
		return bad_value("list", val, "changed or map");
	return EX_OK;
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "list", required_argument, NULL, OPT_LIST },
		{ NULL, 0, NULL, 0 }
	};
	int kind = 0;
	struct cmd_line cl = {
		.name = "info", .usage = info_usage, .opts = opts, .min_pos = 1,
		.max_pos = 1, .opt = list_opt, .ctx = &kind,
	};
	struct meta_job j;
	char why[512];
	int r;

	r = parse_args(&cl, argc, argv);
	if (r != ARGS_OK)
		return r;
	switch (meta_read(cl.pos[0], &j, why, sizeof(why))) {
	case META_JOB:
		break;
	case META_EMPTY:
		err("no dm-backup job on %s (its superblocks are all zeroes)", cl.pos[0]);
		return EX_USAGE;
	case META_CORRUPT:
		err("%s: corrupt dm-backup metadata: %s", cl.pos[0], why);
		return EX_USAGE;
	case META_IOERR:
		err("%s: %s", cl.pos[0], why);
		return EX_USAGE;
	}
	if (kind) {
		if (!meta_list(cl.pos[0], &j, kind, stdout, why, sizeof(why))) {
			err("%s: %s", cl.pos[0], why);
			return EX_USAGE;
		}
		if (fflush(stdout)) {
			err("cannot write the list: %s", strerror(errno));
			return EX_USAGE;
		}
	} else {
		print_meta_job(cl.pos[0], &j);
	}
	return j.state == MD_STATE_COMPLETED ? EX_OK : EX_ERR;
}
