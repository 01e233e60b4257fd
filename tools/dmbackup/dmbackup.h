/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmbackup: the narrow internal API the files of the CLI share.
 *
 * Arrows go one way:
 *
 *   main.c         dispatch: the command table, libdevmapper set-up
 *   cmd_*.c, map.c one command (or a group) each: its usage, options, and
 *                  what it does, in terms of the calls below (export
 *                  creates its view with cmd_view.c's calls; finish and
 *                  status ask cmd_export.c whether an export is live)
 *   steps.c        the step runner of start, finish and view;
 *                  DMBACKUP_FAIL_AT, DMBACKUP_HOOK_AT
 *   volume.c       a volume argument -> dm name, hidden origin, job, views
 *   print.c        the one-line report of a job (status, wait, messages)
 *   dm.c           libdevmapper glue: the only file that makes dm_tasks
 *   probe.c        what a device holds (libblkid): start's signature check
 *   meta.c         a persistent job's metadata device, read offline (info,
 *                  start --meta, start --incremental, reinstate, probe.c)
 *   jobconf.c      the tracking jobs reinstate puts back after a boot
 *   args.c         the command line (parse_args, option values), err()
 *
 * A command calls volume.c, print.c, steps.c and dm.c, volume.c calls dm.c,
 * dm.c calls libdevmapper; nothing calls back up.  args.c is a leaf that
 * everyone may use.
 */
#ifndef DMBACKUP_H
#define DMBACKUP_H

#include <getopt.h>
#include <libdevmapper.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef DM_NAME_LEN
#define DM_NAME_LEN 128		/* <linux/dm-ioctl.h> */
#endif

/* Exit codes (documented in dmbackup.8). */
enum {
	EX_OK = 0,		/* success; wait: the job completed */
	EX_ERR = 1,		/* refused or failed; the volume is unchanged */
	EX_USAGE = 2,		/* bad command line */
	EX_JOB_FAILED = 3,	/* wait: the job failed */
	EX_JOB_CANCELLED = 4,	/* wait: the job was cancelled */
	EX_JOB_SKIPPED = 5,	/* wait: completed, but chunks were skipped */
};

/* ---- args.c: messages and the command line ------------------------------ */

void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void verr(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * struct cmd_line - the command line of one subcommand, for parse_args().
 * Every subcommand takes -h/--help on top of @opts.  An option with a
 * printable val also has that letter as its short form.
 */
/* start's pairs of a group of GROUP_MAX volumes; wait, finish: the volumes. */
#define GROUP_MAX 8
#define CMD_MAX_POS (2 * GROUP_MAX)
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

/* Keys of the long options without a short form (getopt_long's val). */
enum {
	OPT_MODE = 256, OPT_MAP, OPT_SPEED, OPT_CHUNK, OPT_SRC, OPT_TGT, OPT_CBW,
	OPT_INTERVAL, OPT_REMOVE, OPT_SUSPENDED, OPT_CBW_TIMEOUT, OPT_FORCE,
	OPT_META, OPT_STOP, OPT_LISTEN, OPT_NAME, OPT_LIST, OPT_TRACK,
	OPT_INCREMENTAL, OPT_STOP_TRACKING, OPT_OR_FULL,
};

bool parse_rate(const char *s, uint64_t *out);
int flag_opt(void *ctx, int key, const char *val);
int bad_value(const char *opt, const char *val, const char *want);
int pick(const char **dst, const char *opt, const char *val,
	 const char *const *list, const char *want);
/* --interval SECONDS of status and wait; interval_opt()'s ctx: a double. */
extern const struct option interval_opts[];
int interval_opt(void *ctx, int key, const char *val);

/* ---- dm.c: libdevmapper ------------------------------------------------- */

struct target {
	uint64_t start, len;
	char *type, *params;
};

struct table {
	int n;
	struct target *t;
};

void table_free(struct table *tb);
uint64_t table_len(const struct table *tb);

/* The job's status words (see the Documentation, "Status"). */
struct bstatus {
	char mode[16], state[16];
	uint64_t copied, total, chunk_sectors, cbw, zero;
	int64_t last_error;
	uint64_t last_error_chunk, source_errors, target_errors, skipped, speed;
	/* A kernel with persistent jobs: the job's uuid, persistent|volatile. */
	char uuid[40], persistence[16];
	/* changed_chunks: a count, "lost", "-" (no tracking), "" (old kernel). */
	char changed[24];
	int nfields;
};

bool job_ended(const struct bstatus *s);
bool job_tracks(const struct bstatus *s);
bool parse_status(const char *params, struct bstatus *s);

void dm_setup(void);
void dm_teardown(void);
/* Silence libdevmapper in the calling thread: it reports errors itself. */
void dm_quiet_thread(void);
bool is_dm_dev(dev_t dev);
bool get_info(const char *name, struct dm_info *info);
bool get_info_by_dev(dev_t dev, struct dm_info *info, char *name, size_t len);
bool dev_exists(const char *name);
bool read_table_slot(const char *name, int type, bool inactive,
		     struct table *tb);
bool read_table(const char *name, int type, struct table *tb);
bool for_each_dm_device(void (*fn)(const char *name, void *ctx), void *ctx);
bool create_dev(const char *name, const struct table *tb, bool ro, int *errp);
bool load_table(const char *name, const struct table *tb, bool ro);
bool simple_op(int type, const char *name);
bool suspend_volume(const char *name);
bool unsuspend_unchanged(const char *name);
bool send_message(const char *name, uint64_t sector, const char *msg);
bool wait_event(const char *name, uint32_t *event_nr);

/* ---- volume.c: volumes, their jobs and views ---------------------------- */

#define HIDDEN_SUFFIX "-dmbackup-origin"

struct volume {
	char name[DM_NAME_LEN];
	char hidden[DM_NAME_LEN + sizeof(HIDDEN_SUFFIX)];
	struct dm_info info;
};

/*
 * A volume without a backup table but with its hidden device: something
 * other than dmbackup replaced the volume's table (LVM does on `lvchange
 * --refresh`), which ends the job (the kernel logs "job abandoned"), or a
 * finish stopped before removing the hidden device.
 */
#define ORPHAN_HINT "a table without the backup target replaced the job's " \
	"(e.g. lvchange --refresh), which ended the job and left the backup incomplete " \
	"unless it had completed (see the kernel log), or a finish was interrupted; " \
	"'dmbackup finish' removes it"

bool resolve_dm(const char *arg, struct volume *v);
bool resolve_volume(const char *arg, struct volume *v);
int backup_target(const struct table *tb);
bool job_status(const struct volume *v, struct bstatus *s,
		struct target *where);
bool job_devices(const struct volume *v, char *buf, size_t size);
bool job_option(const struct volume *v, const char *key, char *buf,
		size_t size);
bool is_orphan(const char *name);

struct view_search {
	char dev[32];			/* the volume's "major:minor" */
	char devs[64];			/* the job's "origin backup" */
	char names[512];		/* the views found, comma separated */
	int n;
};

int find_views(const struct volume *v, struct view_search *vs);

/* ---- print.c ------------------------------------------------------------ */

const char *human(double bytes, char *buf, size_t len);
const char *hms(double secs, char *buf, size_t len);
double now(void);
void print_job(FILE *f, const char *name, const struct bstatus *s, double rate);

/* ---- steps.c: multi-step operations ------------------------------------- */

bool fail_at(const char *step);

/*
 * struct step - one step of start, finish or view.  @run does it; if it
 * fails (or DMBACKUP_FAIL_AT names the step, and then @run is not called),
 * @failed says so and cleans up whatever a half-done @run left, and the
 * steps done before are undone in reverse order.  @undo undoes a step that
 * was done.  Each returns false if it could not (the state is unknown: the
 * rollback stops there, and the caller tells the user what to do by hand).
 * A NULL @run is a checkpoint that only DMBACKUP_FAIL_AT fails (the
 * "-after" steps: the step before succeeded, then "failed").  Once a
 * @commit step is done, a later failure does not undo it or any step before.
 * @ctx, if set, is passed to the step's functions instead of run_steps()'s
 * (a group start runs the same steps for each of its volumes).
 */
struct step {
	const char *name;		/* for DMBACKUP_FAIL_AT, DMBACKUP_HOOK_AT */
	bool (*run)(void *ctx);
	bool (*failed)(void *ctx);
	bool (*undo)(void *ctx);
	bool commit;
	void *ctx;
};

enum steps_result {
	STEPS_DONE,		/* every step is done */
	STEPS_UNDONE,		/* a step failed; what was done is undone */
	STEPS_UNDO_FAILED,	/* a step failed, and so did its rollback */
};

enum steps_result run_steps(const struct step *steps, int n, void *ctx);

/* ---- the commands ------------------------------------------------------- */

/* probe.c */
enum signature { SIG_NONE, SIG_FOUND, SIG_ERROR };
enum signature device_signature(const char *path, char *what, size_t size);
enum signature meta_signature(const char *path, char *uuid);

/* meta.c: the format is drivers/md/dm-backup-metadata.h's. */
#define MD_BLOCK_SIZE		4096
#define MD_BITS_PER_BLOCK	(MD_BLOCK_SIZE * 8)
enum { MD_BITMAP_COPIED = 1, MD_BITMAP_CHANGED, MD_BITMAP_MAP };
enum { MD_STATE_RUNNING, MD_STATE_PAUSED, MD_STATE_COMPLETED, MD_STATE_FAILED,
       MD_STATE_CANCELLED };

/* struct meta_job - the job of the valid superblock with the higher seq. */
struct meta_job {
	int sb;				/* which superblock: 0 or 1 */
	uint64_t seq;
	uint8_t uuid[16];
	uint64_t pit_ns, origin_sectors, backup_sectors;
	uint32_t chunk_sectors, sync_mode, state;
	int32_t last_error;
	uint64_t last_error_chunk, nr_chunks, sb_copied, unmapped;
	uint64_t cbw, zero, source_errors, target_errors, skipped;
	uint64_t bitmap_set;		/* set bits of the copied bitmap */
	uint64_t copied, total;		/* progress: without the unmapped chunks */
	bool track, track_lost;		/* flags: a changed bitmap; it misses writes */
	bool increment;			/* parent_uuid is set */
	uint8_t parent_uuid[16];	/* an increment: the job it copies the record of */
	/* By bitmap kind (MD_BITMAP_*): where it is (0: absent), its set bits. */
	uint64_t bitmap_first[4], bitmap_blocks[4], bitmap_count[4];
};

enum meta_result { META_JOB, META_EMPTY, META_CORRUPT, META_IOERR };
enum meta_result meta_read(const char *path, struct meta_job *j,
			   char *why, size_t len);
bool meta_has_magic(const void *block);
void meta_block_uuid(const void *block, char *buf);	/* 37 bytes */
int meta_open(const char *path, int flags);
bool device_bytes(int fd, uint64_t *bytes);
bool meta_job_ended(const struct meta_job *j);
const char *meta_state_name(uint32_t state);
const char *meta_mode_name(uint32_t mode);
void meta_uuid_str(const uint8_t uuid[16], char *buf);	/* 37 bytes */
void meta_pit_str(uint64_t ns, char *buf, size_t len);
/*
 * The smallest metadata device for @nr_chunks: superblocks and two bitmaps,
 * with @track (table option "track on") four.
 */
uint64_t meta_min_bytes(uint64_t nr_chunks, bool track);
int meta_bitmap_kind(const char *name);
bool meta_list(const char *path, const struct meta_job *j, int kind, FILE *f,
	       char *why, size_t len);
/* --list FILE ("-": stdout) of start --incremental and export; says why not. */
bool meta_list_file(const char *file, const char *path,
		    const struct meta_job *j, int kind);

int cmd_start(int argc, char **argv);
int cmd_incremental(int argc, char **argv);
int cmd_reinstate(int argc, char **argv);
/* jobconf.c: what reinstate needs to put a tracking job back after a boot. */
struct jobconf {
	char volume[DM_NAME_LEN];
	char meta[256], backup[256];	/* paths */
	char options[512];		/* "<key> <value>..." of the table */
};

const char *jobconf_dir(void);
void jobconf_save(const char *volume, const char *meta, const char *backup,
		  const char *targs);
void jobconf_remove(const char *volume);
bool jobconf_load(const char *path, struct jobconf *jc);
int cmd_info(int argc, char **argv);
int cmd_finish(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_message(int argc, char **argv);
int cmd_view(int argc, char **argv);
/* cmd_view.c: also for export's view */
int view_create(const char *vol_arg, const char *name);
int view_remove(const char *arg);
int cmd_export(int argc, char **argv);
/* cmd_export.c: for finish and status */
bool export_refuses(const char *vol);
void export_status(FILE *f, const char *vol);
int cmd_map(int argc, char **argv);

#endif
