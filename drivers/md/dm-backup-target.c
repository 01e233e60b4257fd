// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup: a device-mapper target that takes a live, point-in-time
 * backup of its origin device onto a backup device, the way QEMU's block
 * backup job does for a virtual disk.
 *
 * This file is the dm glue: table parsing, map, status, messages and the
 * suspend/resume hooks.  The copy engine is in dm-backup-copy.c, the
 * chunk state in dm-backup-chunks.c, the walk in dm-backup-walk.c.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/dm-ioctl.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>

#include "dm-backup.h"

#define CREATE_TRACE_POINTS
#include "dm_backup_trace.h"

/* Frees instances whose last reference went in copy_wq, see backup_put(). */
static struct workqueue_struct *backup_free_wq;

static const char * const backup_error_policy_names[] = {
	[BACKUP_ERROR_REPORT]	= "report",
	[BACKUP_ERROR_IGNORE]	= "ignore",
	[BACKUP_ERROR_STOP]	= "stop",
	[BACKUP_ERROR_ENOSPC]	= "enospc",
};

static const char * const backup_track_names[] = { "off", "on" };

static const char * const backup_cbw_policy_names[] = {
	[BACKUP_CBW_BREAK_BACKUP]	= "break_backup",
	[BACKUP_CBW_FAIL_WRITE]		= "fail_write",
};

/*-------------------------------------------------------------------------*/
/* Constructor and destructor */

static int backup_parse_sync_mode(struct backup_c *bc, const char *arg,
				  char **error)
{
	enum backup_sync_mode mode;

	for (mode = BACKUP_SYNC_FULL; mode <= BACKUP_SYNC_NONE; mode++) {
		if (!strcasecmp(arg, backup_sync_mode_name(mode))) {
			bc->sync_mode = mode;
			return 0;
		}
	}
	*error = "Invalid sync mode (full, top or none)";
	return -EINVAL;
}

static int backup_parse_chunk_size(struct backup_c *bc, const char *arg,
				   char **error)
{
	unsigned int sectors;

	if (kstrtouint(arg, 10, &sectors) || !is_power_of_2(sectors) ||
	    sectors < BACKUP_MIN_CHUNK_SECTORS ||
	    sectors > BACKUP_MAX_CHUNK_SECTORS) {
		*error = "Invalid chunk_size (a power of two from 8 to 2048 sectors)";
		return -EINVAL;
	}
	bc->chunk_sectors = sectors;
	return 0;
}

int backup_parse_speed(const char *arg, u64 *speed, char **error)
{
	if (kstrtou64(arg, 10, speed)) {
		*error = "Invalid speed (bytes per second)";
		return -EINVAL;
	}
	return 0;
}

int backup_parse_cbw_timeout(const char *arg, unsigned int *ms, char **error)
{
	unsigned int v;

	if (kstrtouint(arg, 10, &v) || v > BACKUP_MAX_CBW_TIMEOUT_MS) {
		*error = "Invalid cbw_timeout (milliseconds, 0 to 86400000)";
		return -EINVAL;
	}
	*ms = v;
	return 0;
}

/* Index of @arg in @names[0..@n), or -EINVAL. */
static int backup_match_name(const char *arg, const char * const *names,
			     unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!strcasecmp(arg, names[i]))
			return i;
	return -EINVAL;
}

enum backup_option {
	BACKUP_OPT_SPEED,
	BACKUP_OPT_CHUNK_SIZE,
	BACKUP_OPT_ON_SOURCE_ERROR,
	BACKUP_OPT_ON_TARGET_ERROR,
	BACKUP_OPT_ON_CBW_ERROR,
	BACKUP_OPT_MAP,
	BACKUP_OPT_CBW_TIMEOUT,
	BACKUP_OPT_META,
	BACKUP_OPT_TRACK,
	BACKUP_OPT_INCREMENT,
	BACKUP_NR_OPTIONS,
};

static const char * const backup_option_names[] = {
	[BACKUP_OPT_SPEED]		= "speed",
	[BACKUP_OPT_CHUNK_SIZE]		= "chunk_size",
	[BACKUP_OPT_ON_SOURCE_ERROR]	= "on_source_error",
	[BACKUP_OPT_ON_TARGET_ERROR]	= "on_target_error",
	[BACKUP_OPT_ON_CBW_ERROR]	= "on_cbw_error",
	[BACKUP_OPT_MAP]		= "map",
	[BACKUP_OPT_CBW_TIMEOUT]	= "cbw_timeout",
	[BACKUP_OPT_META]		= "meta",
	[BACKUP_OPT_TRACK]		= "track",
	[BACKUP_OPT_INCREMENT]		= "increment",
};

/*
 * The table holds each device once.  dm_get_device() of a device it
 * already holds with a narrower mode (the map is opened read-only, the
 * origin with the table's mode, the backup device also for writing)
 * reopens it with the wider mode and frees the struct dm_dev it handed
 * out before: point every earlier reference to that device at the new
 * one, so that none dangles.  @devt: the device @ref was opened on,
 * taken while *@ref was still valid.
 */
static void backup_follow_dev(struct dm_dev **ref, dev_t devt,
			      struct dm_dev *dev)
{
	if (*ref && dev->bdev->bd_dev == devt)
		*ref = dev;
}

static int backup_parse_option(struct backup_c *bc, enum backup_option opt,
			       const char *arg, char **error)
{
	dev_t devt;
	int r;

	switch (opt) {
	case BACKUP_OPT_SPEED:
		return backup_parse_speed(arg, &bc->speed, error);
	case BACKUP_OPT_CHUNK_SIZE:
		return backup_parse_chunk_size(bc, arg, error);
	case BACKUP_OPT_CBW_TIMEOUT:
		return backup_parse_cbw_timeout(arg, &bc->cbw_timeout, error);
	case BACKUP_OPT_ON_SOURCE_ERROR:
		/* enospc is about the backup device running out of space. */
		r = backup_match_name(arg, backup_error_policy_names,
				      BACKUP_ERROR_ENOSPC);
		if (r < 0)
			*error = "Invalid on_source_error (report, ignore or stop)";
		else
			bc->on_source_error = r;
		break;
	case BACKUP_OPT_ON_TARGET_ERROR:
		r = backup_match_name(arg, backup_error_policy_names,
				      ARRAY_SIZE(backup_error_policy_names));
		if (r < 0)
			*error = "Invalid on_target_error (report, ignore, stop or enospc)";
		else
			bc->on_target_error = r;
		break;
	case BACKUP_OPT_MAP:
		r = dm_get_device(bc->ti, arg, BACKUP_OPEN_READ, &bc->map);
		if (r)
			*error = "Error opening map device";
		break;
	case BACKUP_OPT_TRACK:
		r = backup_match_name(arg, backup_track_names,
				      ARRAY_SIZE(backup_track_names));
		if (r < 0)
			*error = "Invalid track (on or off)";
		else
			bc->track = r;
		break;
	case BACKUP_OPT_INCREMENT:
		r = uuid_parse(arg, (uuid_t *)bc->parent);
		if (r)
			*error = "Invalid increment (the uuid of a tracking job)";
		else
			bc->increment = true;
		break;
	case BACKUP_OPT_META:
		devt = bc->map ? bc->map->bdev->bd_dev : 0;
		r = dm_get_device(bc->ti, arg,
				  BACKUP_OPEN_READ | BACKUP_OPEN_WRITE, &bc->meta);
		if (r)
			*error = "Error opening metadata device";
		else
			backup_follow_dev(&bc->map, devt, bc->meta);
		break;
	default:
		r = backup_match_name(arg, backup_cbw_policy_names,
				      ARRAY_SIZE(backup_cbw_policy_names));
		if (r < 0)
			*error = "Invalid on_cbw_error (break_backup or fail_write)";
		else
			bc->on_cbw_error = r;
		break;
	}
	return r < 0 ? r : 0;
}

/* [<#opt_args> <key> <value>...], each key at most once */
static int backup_parse_options(struct backup_c *bc, struct dm_arg_set *as,
				char **error)
{
	static const struct dm_arg opt_args = {
		0, 2 * BACKUP_NR_OPTIONS, "Invalid number of optional arguments"
	};
	unsigned long seen = 0;
	unsigned int argc;
	int opt, r;

	if (!as->argc)
		return 0;
	r = dm_read_arg_group(&opt_args, as, &argc, error);
	if (r)
		return r;
	if (argc % 2) {
		*error = "Optional arguments must be key/value pairs";
		return -EINVAL;
	}

	for (; argc; argc -= 2) {
		opt = backup_match_name(dm_shift_arg(as), backup_option_names,
					BACKUP_NR_OPTIONS);
		if (opt < 0) {
			*error = "Unknown optional argument";
			return -EINVAL;
		}
		if (__test_and_set_bit(opt, &seen)) {
			*error = "Duplicate optional argument";
			return -EINVAL;
		}
		r = backup_parse_option(bc, opt, dm_shift_arg(as), error);
		if (r)
			return r;
	}
	if (as->argc) {
		*error = "Too many arguments";
		return -EINVAL;
	}
	return 0;
}

static int backup_get_devices(struct backup_c *bc, char **argv, char **error)
{
	struct dm_target *ti = bc->ti;
	dev_t map_devt = bc->map ? bc->map->bdev->bd_dev : 0;
	dev_t meta_devt = bc->meta ? bc->meta->bdev->bd_dev : 0;
	dev_t origin_devt;
	sector_t lbs;
	int r;

	r = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table),
			  &bc->origin);
	if (r) {
		*error = "Error opening origin device";
		return r;
	}
	backup_follow_dev(&bc->map, map_devt, bc->origin);
	backup_follow_dev(&bc->meta, meta_devt, bc->origin);
	origin_devt = bc->origin->bdev->bd_dev;
	r = dm_get_device(ti, argv[1],
			  dm_table_get_mode(ti->table) | BACKUP_OPEN_WRITE,
			  &bc->backup);
	if (r) {
		*error = "Error opening backup device";
		return r;
	}
	backup_follow_dev(&bc->map, map_devt, bc->backup);
	backup_follow_dev(&bc->meta, meta_devt, bc->backup);
	backup_follow_dev(&bc->origin, origin_devt, bc->backup);
	if (bc->origin->bdev == bc->backup->bdev) {
		*error = "Backup device must differ from the origin device";
		return -EINVAL;
	}
	if (bc->meta && (bc->meta->bdev == bc->origin->bdev ||
			 bc->meta->bdev == bc->backup->bdev)) {
		*error = "Metadata device must differ from the origin and backup devices";
		return -EINVAL;
	}
	if (bc->meta && bc->map && bc->meta->bdev == bc->map->bdev) {
		*error = "Metadata device must differ from the map";
		return -EINVAL;
	}
	if (bdev_is_zoned(bc->origin->bdev)) {
		*error = "Zoned origin devices are not supported";
		return -EINVAL;
	}
	if (bdev_nr_sectors(bc->origin->bdev) < ti->len) {
		*error = "Origin device is smaller than the target";
		return -EINVAL;
	}
	if (bdev_nr_sectors(bc->backup->bdev) < ti->len) {
		*error = "Backup device is smaller than the target";
		return -EINVAL;
	}
	/* Copies write whole chunks at their own offset, in any order. */
	if (bdev_is_zoned(bc->backup->bdev)) {
		*error = "Zoned backup devices are not supported";
		return -EINVAL;
	}
	/* The last chunk ends with the target: both must be whole blocks. */
	lbs = bdev_logical_block_size(bc->backup->bdev) >> SECTOR_SHIFT;
	if (bc->chunk_sectors & (lbs - 1)) {
		*error = "Backup device's logical block size does not divide the chunk size";
		return -EINVAL;
	}
	if (ti->len & (lbs - 1)) {
		*error = "Backup device's logical block size does not divide the target length";
		return -EINVAL;
	}
	/* With meta the job may come from the metadata: see backup_new_job(). */
	if (bc->sync_mode == BACKUP_SYNC_TOP && !bc->map && !bc->meta) {
		*error = "Sync mode top needs a map";
		return -EINVAL;
	}
	/* An increment's map is its parent's record, on the metadata device. */
	if (bc->increment && (bc->sync_mode != BACKUP_SYNC_TOP || bc->map ||
			      !bc->track)) {
		*error = "increment needs sync mode top, track on and no map";
		return -EINVAL;
	}
	if (bc->sync_mode != BACKUP_SYNC_TOP && bc->map) {
		*error = "A map is only for sync mode top";
		return -EINVAL;
	}
	/* The record must survive what it is for: crashes and reboots. */
	if (bc->track && !bc->meta) {
		*error = "track on needs a metadata device (meta)";
		return -EINVAL;
	}
	return 0;
}

/*
 * Chunk indexes are unsigned long, 32 bits on a 32-bit kernel, and the
 * bitmap helpers (bitmap_set()) take unsigned int bit numbers: at most
 * UINT_MAX chunks, so that no index wraps; on a 32-bit kernel a word
 * fewer, so that BITS_TO_LONGS() and the bitmap searches, which round
 * up to whole words, do not wrap either.  That also bounds the bitmap to
 * 512 MiB, below what kvcalloc() accepts.
 */
static int backup_count_chunks(struct backup_c *bc, char **error)
{
	sector_t len = bc->ti->len;
	u64 nr_chunks;

	bc->chunk_shift = __ffs(bc->chunk_sectors);
	/* Rounded up without overflowing near the top of sector_t. */
	nr_chunks = ((u64)len >> bc->chunk_shift) +
		    !!(len & (bc->chunk_sectors - 1));
	if (nr_chunks > min_t(u64, UINT_MAX, ULONG_MAX - BITS_PER_LONG)) {
		*error = "Origin too large for this chunk size (too many chunks)";
		return -EINVAL;
	}
	bc->nr_chunks = nr_chunks;
	return 0;
}

/*
 * A new job, for a table that does not take one over: every chunk to copy,
 * or in top mode those the map marks.
 */
static int backup_new_job(struct backup_c *bc, char **error)
{
	int r;

	bc->job = backup_job_create(bc->nr_chunks);
	if (!bc->job) {
		*error = "Cannot allocate the chunk bitmap";
		return -ENOMEM;
	}
	if (bc->meta) {
		/*
		 * A job on the metadata device brings its own bits, and an
		 * increment takes them from its parent's record when it starts.
		 */
		r = backup_job_open_meta(bc, error);
		if (r || backup_job_persisted(bc->job) || bc->increment)
			return r;
	}
	if (bc->sync_mode == BACKUP_SYNC_TOP && !bc->map) {
		*error = "Sync mode top needs a map";
		return -EINVAL;
	}
	return bc->map ? backup_read_map(bc, error) : 0;
}

static int backup_alloc_job(struct backup_c *bc, char **error)
{
	int r;

	r = backup_count_chunks(bc, error);
	if (r)
		return r;
	if (bc->map)
		bc->map_dev = bc->map->bdev->bd_dev;
	if (bc->meta)
		bc->meta_dev = bc->meta->bdev->bd_dev;
	/* A reload takes the running job (and its map's bits) over. */
	r = backup_register_job(bc, error);
	if (!r && !bc->job)
		r = backup_new_job(bc, error);
	if (r)
		return r;
	if (bc->map) {
		dm_put_device(bc->ti, bc->map);
		bc->map = NULL;
	}
	/* The job holds the metadata device from now on. */
	if (bc->meta) {
		dm_put_device(bc->ti, bc->meta);
		bc->meta = NULL;
	}

	r = backup_copy_pools_init(bc);
	if (r) {
		*error = "Cannot allocate memory pools";
		return r;
	}

	bc->wq = alloc_workqueue("dm-" DM_MSG_PREFIX, WQ_MEM_RECLAIM, 0);
	bc->copy_wq = alloc_workqueue("dm-" DM_MSG_PREFIX "-copy",
				      WQ_MEM_RECLAIM, 0);
	if (!bc->wq || !bc->copy_wq) {
		*error = "Cannot allocate workqueues";
		return -ENOMEM;
	}
	return 0;
}

/* Copies hold their devices by reference: see backup_c.origin_bdev. */
static void backup_hold_copy_devices(struct backup_c *bc)
{
	bc->origin_bdev = bc->origin->bdev;
	get_device(&bc->origin_bdev->bd_device);
	bc->backup_bdev = bc->backup->bdev;
	get_device(&bc->backup_bdev->bd_device);
}

static void backup_release_copy_devices(struct backup_c *bc)
{
	if (bc->backup_bdev)
		put_device(&bc->backup_bdev->bd_device);
	if (bc->origin_bdev)
		put_device(&bc->origin_bdev->bd_device);
}

/* The table's devices go with the table, whoever frees the rest later. */
static void backup_put_devices(struct backup_c *bc)
{
	if (bc->map)
		dm_put_device(bc->ti, bc->map);
	if (bc->meta)
		dm_put_device(bc->ti, bc->meta);
	if (bc->backup)
		dm_put_device(bc->ti, bc->backup);
	if (bc->origin)
		dm_put_device(bc->ti, bc->origin);
	bc->map = NULL;
	bc->meta = NULL;
	bc->backup = NULL;
	bc->origin = NULL;
}

/* What copies need until the last one ends: see backup_put(). */
static void backup_free(struct backup_c *bc)
{
	backup_unregister_job(bc);
	if (bc->copy_wq)
		destroy_workqueue(bc->copy_wq);
	if (bc->wq)
		destroy_workqueue(bc->wq);
	backup_copy_pools_exit(bc);
	backup_job_put(bc->job);
	backup_release_copy_devices(bc);
	kfree(bc);
}

static void backup_free_work(struct work_struct *ws)
{
	backup_free(container_of(ws, struct backup_c, free_work));
	/* Taken by the destructor; rmmod waits in destroy_workqueue(). */
	module_put(THIS_MODULE);
}

static void backup_release(struct kref *ref)
{
	struct backup_c *bc = container_of(ref, struct backup_c, ref);

	/* From copy_wq, which backup_free() destroys: not here. */
	queue_work(backup_free_wq, &bc->free_work);
}

/* How the copy engine reports to the job and to the instance's owner. */
static const struct backup_engine_ops backup_target_engine_ops = {
	.copy_ended_locked = backup_job_copy_ended_locked,
	.write_stalled_locked = backup_job_write_stalled_locked,
	.copy_written = backup_job_copy_written,
	.copy_awaited_locked = backup_job_copy_awaited_locked,
	.release = backup_release,
};

/*
 * The destructor's put: with no copy left, free everything now, so that
 * the devices are closed when `dmsetup remove` returns.
 */
static void backup_release_now(struct kref *ref)
{
	backup_free_work(&container_of(ref, struct backup_c, ref)->free_work);
}

/*
 * Construct a backup job:
 *
 *   <origin_dev> <backup_dev> <sync_mode> [<#opt_args> <opt_arg>...]
 *
 * origin_dev:  the device being backed up; all I/O goes to it.
 * backup_dev:  receives each chunk at the offset it has on the origin;
 *              at least as long as the target, not the origin, not
 *              zoned, its logical block size dividing the chunk size
 *              and the target length.
 * sync_mode:   full: the walk copies every chunk;
 *              top:  the walk copies the chunks the map marks, and only
 *                    those are copied before writes;
 *              none: no walk, copy-before-write only.
 *
 * Optional arguments, as key/value pairs, each key at most once:
 *   speed <bytes_per_second>   background copy rate, 0 = unlimited
 *   chunk_size <sectors>       power of two from 8 to 2048, default 128;
 *                              at most 2^32 - 1 chunks in the target
 *   on_source_error <report|ignore|stop>         walk read errors
 *   on_target_error <report|ignore|stop|enospc>  walk write errors
 *   on_cbw_error <break_backup|fail_write>       copy-before-write errors
 *   map <dev>                  top: one bit per chunk, set = copy it;
 *                              not needed to continue a persistent job
 *   cbw_timeout <ms>           longest wait of a write for its copy,
 *                              0 = no limit, default 30000
 *   meta <dev>                 a persistent job: its state on this
 *                              device (dm-backup-metadata.h); a zeroed
 *                              device starts a new job, one that holds
 *                              a matching job continues it
 *   track <on|off>             with meta: record every chunk written
 *                              since the point in time on the metadata
 *                              device before the write goes on, also
 *                              after the job completed
 *   increment <uuid>           top with track on, no map: copy the
 *                              chunks the completed tracking job <uuid>
 *                              on the metadata device recorded, and
 *                              record anew from this point in time (or
 *                              continue such an increment)
 *
 * The point in time of the backup is the first resume of the table.  A
 * reloaded table naming the same origin and backup device takes the
 * running job over (dm-backup-handover.c).
 */
static int backup_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct backup_c *bc;
	int r;

	if (argc < 3) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	bc = kzalloc(sizeof(*bc), GFP_KERNEL);
	if (!bc) {
		ti->error = "Cannot allocate backup context";
		return -ENOMEM;
	}
	kref_init(&bc->ref);
	bc->ops = &backup_target_engine_ops;
	INIT_WORK(&bc->free_work, backup_free_work);
	bc->ti = ti;
	bc->len = ti->len;
	INIT_LIST_HEAD(&bc->jobs_entry);
	bc->chunk_sectors = BACKUP_DEFAULT_CHUNK_SECTORS;
	bc->cbw_timeout = BACKUP_DEFAULT_CBW_TIMEOUT_MS;
	bc->inflight = RB_ROOT;
	bio_list_init(&bc->deferred_bios);
	INIT_LIST_HEAD(&bc->pending_copies);
	spin_lock_init(&bc->page_lock);
	INIT_LIST_HEAD(&bc->page_cache);
	atomic_set(&bc->nr_copies, 0);
	atomic_set(&bc->nr_holds, 0);
	atomic_set(&bc->nr_pages, 0);
	atomic_set(&bc->walk_pages, 0);
	atomic64_set(&bc->slice_bytes, 0);
	init_waitqueue_head(&bc->copy_done_wait);
	backup_walk_init(bc);
	backup_copy_engine_init(bc);
	set_bit(BACKUP_SUSPENDED, &bc->flags);

	dm_consume_args(&as, 3);
	r = backup_parse_sync_mode(bc, argv[2], &ti->error);
	if (!r)
		r = backup_parse_options(bc, &as, &ti->error);
	if (!r)
		r = backup_get_devices(bc, argv, &ti->error);
	if (!r) {
		backup_hold_copy_devices(bc);
		r = backup_alloc_job(bc, &ti->error);
	}
	if (r) {
		backup_put_devices(bc);
		backup_free(bc);
		return r;
	}

	bc->dev = disk_devt(dm_disk(dm_table_get_md(ti->table)));
	strscpy(bc->name, dm_device_name(dm_table_get_md(ti->table)),
		sizeof(bc->name));
	ti->private = bc;
	ti->per_io_data_size = sizeof(struct backup_bio_info);
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	return 0;
}

/* No copy in flight but the holds of view reads (they read the origin). */
static bool backup_copies_drained(struct backup_c *bc)
{
	return atomic_read(&bc->nr_copies) == atomic_read(&bc->nr_holds) ||
	       !backup_job_active(READ_ONCE(bc->job->state));
}

/*
 * The backup device did not finish the copies of a suspending device
 * within cbw_timeout: the job fails rather than hold the suspend (and
 * with it a table swap or a removal) for ever.
 */
static void backup_fail_stalled_drain(struct backup_c *bc)
{
	spin_lock(&bc->job->lock);
	backup_job_break_locked(bc, -ETIMEDOUT, bc->nr_chunks);
	spin_unlock(&bc->job->lock);
	DMERR("%s: copies in flight %u ms after suspend: backup broken (backup device stalled)",
	      bc->name, READ_ONCE(bc->cbw_timeout));
}

/*
 * postsuspend: let the worker finish its run (it starts no walk copy
 * now) and wait until no copy is in flight, so that a reload finds the
 * bitmap at rest.  A job that has ended waits for nothing: no write
 * depends on its copies any more, and they end on their own.  Flushed,
 * not cancelled: a cancelled run could leave copies pending that nobody
 * starts or drops.
 */
static void backup_drain(struct backup_c *bc)
{
	unsigned int ms = READ_ONCE(bc->cbw_timeout);

	wake_up_all(&bc->copy_done_wait);
	flush_delayed_work(&bc->worker);
	/* The walk's last copies need not wait for their batch's timer. */
	backup_job_commit_deferred(bc->job);
	if (!ms)
		wait_event(bc->copy_done_wait, backup_copies_drained(bc));
	else if (!wait_event_timeout(bc->copy_done_wait,
				     backup_copies_drained(bc),
				     msecs_to_jiffies(ms)))
		backup_fail_stalled_drain(bc);
}

/*
 * A job still running or paused when its table goes away was abandoned:
 * the table was removed, or replaced by one that did not take the job over
 * (a table without a backup target, such as the one LVM loads on
 * `lvchange --refresh`, or a backup table on other devices).  Writes from
 * now on reach the origin without copy-before-write, and the status line
 * that showed the job goes with the table, so the kernel log has to say
 * that the backup is incomplete.  Sync mode none runs until it is removed:
 * that is how it ends, not an abandonment.
 */
static void backup_report_abandoned(struct backup_c *bc)
{
	enum backup_state state = READ_ONCE(bc->job->state);
	unsigned long unmapped = bc->job->nr_unmapped;
	char name[DM_NAME_LEN];

	/* A replaced instance that handed the job over did not abandon it. */
	if (bc->handed_over || !test_bit(BACKUP_RESUMED, &bc->flags) ||
	    !backup_job_active(state) || bc->sync_mode == BACKUP_SYNC_NONE)
		return;
	/* The admin knows the device by its name, gone once it is removed. */
	if (dm_copy_name_and_uuid(bc->md, name, NULL))
		name[0] = '\0';
	/* A persistent job is only left: the same table continues it. */
	DMWARN("%s%s%s%s: job %s while %s at %lu/%lu chunks: %s",
	       dm_device_name(bc->md), name[0] ? " (" : "", name,
	       name[0] ? ")" : "", bc->job->meta ? "left" : "abandoned",
	       backup_state_name(state), bc->job->nr_copied - unmapped,
	       bc->nr_chunks - unmapped,
	       bc->job->meta ? "kept on its metadata device for the same table" :
			       "table gone, backup incomplete");
}

/*
 * The table goes; copies whose backup write still hangs may stay, holding
 * a reference each, and are dropped when they come back (copy_write()
 * sees BACKUP_DYING).  Nothing here waits for the backup device.
 */
static void backup_dtr(struct dm_target *ti)
{
	struct backup_c *bc = ti->private;
	unsigned int ms = READ_ONCE(bc->cbw_timeout);
	dev_t meta_dev = bc->meta_dev;	/* 0 without "meta" */

	backup_report_abandoned(bc);
	/*
	 * No view attaches to the job from now on, and those attached fail
	 * their reads (unless a reload took the job over).
	 */
	backup_unregister_job(bc);
	backup_sysfs_detach(bc);
	set_bit(BACKUP_SUSPENDED, &bc->flags);
	set_bit(BACKUP_DYING, &bc->flags);
	wake_up_all(&bc->copy_done_wait);
	cancel_delayed_work_sync(&bc->worker);
	cancel_delayed_work_sync(&bc->stall_work);
	cancel_work_sync(&bc->end_work);
	/*
	 * Not flushed: copy_wq may block in a stalled backup device's
	 * submission path (nbd blocks there).  Copies hold their devices.
	 */
	backup_put_devices(bc);
	__module_get(THIS_MODULE);	/* until backup_free_work() */
	kref_put(&bc->ref, backup_release_now);
	/*
	 * A persistent job that ended with its table has its last commit on
	 * the metadata device when `dmsetup remove` returns, or, if that
	 * hangs, after cbw_timeout, and no table uses the device until then.
	 */
	if (meta_dev && !backup_job_meta_dev_free(meta_dev, ms))
		DMERR("metadata device %u:%u did not answer within %u ms: %s",
		      MAJOR(meta_dev), MINOR(meta_dev), ms,
		      "the last commit of a removed table's job is left in flight; the device takes no new job until it ends");
}

/*-------------------------------------------------------------------------*/
/* I/O */

/* Does @bio change data on the origin? */
static bool backup_bio_changes_data(struct bio *bio)
{
	if (!bio_sectors(bio))
		return false;
	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		return true;
	default:
		return false;
	}
}

static int backup_map(struct dm_target *ti, struct bio *bio)
{
	struct backup_c *bc = ti->private;

	if (backup_bio_changes_data(bio)) {
		backup_bio_arrived(bio);
		/* Mark before write: the record first, then the copy. */
		if (!backup_job_mark_write(bc, bio))
			return DM_MAPIO_SUBMITTED;
		if (backup_job_guards_writes(bc->job) &&
		    !backup_cow_bio(bc, bio, NULL))
			return DM_MAPIO_SUBMITTED;
	}

	backup_remap_to_origin(bc, bio);
	return DM_MAPIO_REMAPPED;
}

static void backup_presuspend(struct dm_target *ti)
{
	struct backup_c *bc = ti->private;

	set_bit(BACKUP_SUSPENDED, &bc->flags);
}

/*
 * dm gave up the suspend after presuspend: the freeze of the file system
 * failed, or a signal ended the wait for the bios in flight.  The device
 * stays live, so the walk goes on.
 */
static void backup_presuspend_undo(struct dm_target *ti)
{
	struct backup_c *bc = ti->private;

	clear_bit(BACKUP_SUSPENDED, &bc->flags);
	backup_kick(bc);
}

static void backup_postsuspend(struct dm_target *ti)
{
	backup_drain(ti->private);
}

static int backup_preresume(struct dm_target *ti)
{
	struct backup_c *bc = ti->private;
	int r;

	r = backup_take_over(bc);
	if (r)
		return r;
	/* A new job's point in time: its first resume. */
	return backup_job_start(bc);
}

static void backup_resume(struct dm_target *ti)
{
	struct backup_c *bc = ti->private;

	backup_sysfs_attach(bc);
	set_bit(BACKUP_RESUMED, &bc->flags);
	clear_bit(BACKUP_SUSPENDED, &bc->flags);
	backup_kick(bc);
}

static int backup_iterate_devices(struct dm_target *ti,
				  iterate_devices_callout_fn fn, void *data)
{
	struct backup_c *bc = ti->private;

	return fn(ti, bc->origin, 0, ti->len, data);
}

/*-------------------------------------------------------------------------*/
/* Status and messages */

static void backup_emit_table(struct backup_c *bc, char *result,
			      unsigned int maxlen)
{
	u64 speed = READ_ONCE(bc->speed);
	bool chunk_size = bc->chunk_sectors != BACKUP_DEFAULT_CHUNK_SECTORS;
	bool src = bc->on_source_error != BACKUP_ERROR_REPORT;
	bool tgt = bc->on_target_error != BACKUP_ERROR_REPORT;
	bool cbw = bc->on_cbw_error != BACKUP_CBW_BREAK_BACKUP;
	unsigned int timeout = READ_ONCE(bc->cbw_timeout);
	bool cbw_timeout = timeout != BACKUP_DEFAULT_CBW_TIMEOUT_MS;
	unsigned int nr = !!speed + chunk_size + src + tgt + cbw + !!bc->map_dev +
			  cbw_timeout + !!bc->meta_dev + bc->track + bc->increment;
	unsigned int sz = 0;

	DMEMIT("%s %s %s", bc->origin->name, bc->backup->name,
	       backup_sync_mode_name(bc->sync_mode));
	if (nr)
		DMEMIT(" %u", 2 * nr);
	if (speed)
		DMEMIT(" speed %llu", speed);
	if (chunk_size)
		DMEMIT(" chunk_size %llu", (unsigned long long)bc->chunk_sectors);
	if (src)
		DMEMIT(" on_source_error %s",
		       backup_error_policy_names[bc->on_source_error]);
	if (tgt)
		DMEMIT(" on_target_error %s",
		       backup_error_policy_names[bc->on_target_error]);
	if (cbw)
		DMEMIT(" on_cbw_error %s",
		       backup_cbw_policy_names[bc->on_cbw_error]);
	if (bc->map_dev)
		DMEMIT(" map %u:%u", MAJOR(bc->map_dev), MINOR(bc->map_dev));
	if (cbw_timeout)
		DMEMIT(" cbw_timeout %u", timeout);
	if (bc->meta_dev)
		DMEMIT(" meta %u:%u", MAJOR(bc->meta_dev), MINOR(bc->meta_dev));
	if (bc->track)
		DMEMIT(" track on");
	if (bc->increment)
		DMEMIT(" increment %pUb", bc->parent);
}

/*
 * <sync_mode> <state> <copied_chunks>/<total_chunks> <chunk_sectors>
 * <cbw_chunks> <zero_chunks> <last_error> <last_error_chunk>
 * <source_errors> <target_errors> <skipped_chunks> <speed> <job_uuid>
 * <persistent|volatile> <changed_chunks>
 *
 * changed_chunks: with track on, the chunks written since the point in
 * time (the pending increment), "lost" if the record misses writes; "-"
 * without track.
 */
/* The status line's last field: @sz is where it goes. */
static void backup_emit_changed(struct backup_job *job, char *result,
				unsigned int maxlen, unsigned int sz)
{
	if (!job->track)
		DMEMIT(" -");
	else if (job->track_lost)
		DMEMIT(" lost");
	else
		DMEMIT(" %lu", job->nr_changed);
}

static void backup_status(struct dm_target *ti, status_type_t type,
			  unsigned int status_flags, char *result,
			  unsigned int maxlen)
{
	struct backup_c *bc = ti->private;
	const char *mode = backup_sync_mode_name(bc->sync_mode);
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock(&bc->job->lock);
		DMEMIT("%s %s %lu/%lu %llu %lu %lu %d %lu %lu %lu %lu %llu %pUb %s",
		       mode,
		       backup_state_name(bc->job->state),
		       bc->job->nr_copied - bc->job->nr_unmapped,
		       bc->nr_chunks - bc->job->nr_unmapped,
		       (unsigned long long)bc->chunk_sectors,
		       bc->job->cbw_chunks, bc->job->zero_chunks, bc->job->last_error,
		       bc->job->last_error_chunk, bc->job->source_errors,
		       bc->job->target_errors, bc->job->skipped_chunks,
		       READ_ONCE(bc->speed), bc->job->uuid,
		       bc->job->meta ? "persistent" : "volatile");
		backup_emit_changed(bc->job, result, maxlen, sz);
		spin_unlock(&bc->job->lock);
		break;
	case STATUSTYPE_TABLE:
		backup_emit_table(bc, result, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",origin=%s,backup=%s,sync_mode=%s,chunk_size=%llu;",
		       bc->origin->name, bc->backup->name, mode,
		       (unsigned long long)bc->chunk_sectors);
		break;
	}
}

static int backup_message(struct dm_target *ti, unsigned int argc, char **argv,
			  char *result, unsigned int maxlen)
{
	struct backup_c *bc = ti->private;
	const char *dev = dm_device_name(dm_table_get_md(ti->table));
	unsigned int ms;
	char *error;
	u64 speed;

	if (argc == 1 && !strcasecmp(argv[0], "cancel"))
		return backup_cancel(bc);
	if (argc == 1 && !strcasecmp(argv[0], "pause")) {
		if (backup_pause(bc)) {
			DMERR("%s: pause: the job has ended", dev);
			return -EINVAL;
		}
		return 0;
	}
	if (argc == 1 && !strcasecmp(argv[0], "resume")) {
		if (backup_resume_job(bc)) {
			DMERR("%s: resume: the job has ended", dev);
			return -EINVAL;
		}
		return 0;
	}
	if (argc == 2 && !strcasecmp(argv[0], "cbw_timeout")) {
		if (backup_parse_cbw_timeout(argv[1], &ms, &error)) {
			DMERR("%s: %s: '%s'", dev, error, argv[1]);
			return -EINVAL;
		}
		WRITE_ONCE(bc->cbw_timeout, ms);
		backup_stall_watchdog_rearm(bc);
		return 0;
	}
	if (argc == 2 && !strcasecmp(argv[0], "speed")) {
		if (backup_parse_speed(argv[1], &speed, &error)) {
			DMERR("%s: %s: '%s'", dev, error, argv[1]);
			return -EINVAL;
		}
		backup_set_speed(bc, speed);
		return 0;
	}
	DMERR("%s: unsupported message '%s' with %u argument(s)", dev,
	      argc ? argv[0] : "", argc);
	return -EINVAL;
}

static struct target_type backup_target = {
	.name = "backup",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = backup_ctr,
	.dtr = backup_dtr,
	.map = backup_map,
	.presuspend = backup_presuspend,
	.presuspend_undo = backup_presuspend_undo,
	.postsuspend = backup_postsuspend,
	.preresume = backup_preresume,
	.resume = backup_resume,
	.status = backup_status,
	.message = backup_message,
	.iterate_devices = backup_iterate_devices,
};

static int __init dm_backup_init(void)
{
	int r;

	r = backup_copy_module_init();
	if (r)
		return r;
	r = backup_job_module_init();
	if (r)
		goto bad_meta;
	backup_free_wq = alloc_workqueue("dm-" DM_MSG_PREFIX "-free", 0, 0);
	if (!backup_free_wq) {
		r = -ENOMEM;
		goto bad_wq;
	}
	r = dm_register_target(&backup_target);
	if (r)
		goto bad_target;
	r = backup_view_register();
	if (r)
		goto bad_view;
	return 0;
bad_view:
	dm_unregister_target(&backup_target);
bad_target:
	destroy_workqueue(backup_free_wq);
bad_wq:
	backup_job_module_exit();
bad_meta:
	DMERR("register failed %d", r);
	backup_copy_module_exit();
	return r;
}

static void __exit dm_backup_exit(void)
{
	backup_view_unregister();
	dm_unregister_target(&backup_target);
	destroy_workqueue(backup_free_wq);
	backup_job_module_exit();
	backup_copy_module_exit();
}

module_init(dm_backup_init);
module_exit(dm_backup_exit);

MODULE_DESCRIPTION(DM_NAME " live point-in-time backup target");
MODULE_AUTHOR("The dm-backup authors");
MODULE_LICENSE("GPL");
