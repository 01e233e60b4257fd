// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup finish: end the job on a volume, put its original table (read
 * from the hidden device) back under its name in one suspend/resume, and
 * remove the hidden device.
 */
#include <inttypes.h>
#include <string.h>

#include "dmbackup.h"

/* ---- finish ------------------------------------------------------------- */

static const char finish_usage[] =
"usage: dmbackup finish [--force] <volume>\n"
"\n"
"End the backup job on <volume>: put the volume's original table (read from\n"
"<name>" HIDDEN_SUFFIX ") back under its name in one suspend/resume, and\n"
"remove the hidden device.  Refuses while the job is running or paused\n"
"unless --force is given (which abandons the job: the backup is incomplete).\n"
"On any failure the volume is left as it was.\n";

int cmd_finish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	bool force = false, swapped;
	struct cmd_line cl = {
		.name = "finish", .usage = finish_usage, .opts = opts,
		.min_pos = 1, .max_pos = 1, .opt = flag_opt, .ctx = &force,
	};
	const char *vol_arg;
	struct table live, orig;
	struct dm_info hinfo, info;
	struct view_search vs;
	struct bstatus s;
	struct volume v;
	unsigned int oma, omi;
	int bi;

	bi = parse_args(&cl, argc, argv);
	if (bi != ARGS_OK)
		return bi;
	vol_arg = cl.pos[0];
	if (!resolve_volume(vol_arg, &v))
		return EX_ERR;
	if (!read_table(v.name, DM_DEVICE_TABLE, &live)) {
		err("%s: cannot read its table", v.name);
		return EX_ERR;
	}
	bi = backup_target(&live);
	if (bi < 0) {
		/* A finish that got as far as the swap: only the removal is left. */
		if (get_info(v.hidden, &hinfo) && hinfo.exists && !hinfo.open_count) {
			if (!simple_op(DM_DEVICE_REMOVE, v.hidden)) {
				err("cannot remove %s", v.hidden);
				return EX_ERR;
			}
			printf("%s: removed the left-over %s\n", v.name, v.hidden);
			return EX_OK;
		}
		err("%s: no backup job runs on this volume", v.name);
		return EX_ERR;
	}
	if (live.n != 1 || sscanf(live.t[bi].params, "%u:%u", &oma, &omi) != 2 ||
	    !get_info(v.hidden, &hinfo) || !hinfo.exists ||
	    hinfo.major != oma || hinfo.minor != omi) {
		err("%s: its backup job was not started by dmbackup (its origin is not %s): "
		    "finish it with dmsetup", v.name, v.hidden);
		return EX_ERR;
	}
	/*
	 * The original table would cut a view off its job (its reads fail
	 * from then on): even --force leaves that to the view's owner.
	 */
	switch (find_views(&v, &vs)) {
	case -1:
		return EX_ERR;
	case 0:
		break;
	default:
		err("%s: the job's image is still read through the view %s: "
		    "remove it first (dmbackup view --remove NAME)", v.name, vs.names);
		return EX_ERR;
	}
	if (!job_status(&v, &s, NULL))
		return EX_ERR;
	if (!job_ended(&s) && !force) {
		err("%s: the job is still %s (%" PRIu64 "/%" PRIu64 " chunks): wait for it, "
		    "cancel it, or use --force to abandon it", v.name, s.state, s.copied,
		    s.total);
		return EX_ERR;
	}
	if (v.info.inactive_table) {
		err("%s has an inactive table loaded (another tool is changing it): "
		    "clear it first", v.name);
		return EX_ERR;
	}
	if (!read_table(v.hidden, DM_DEVICE_TABLE, &orig) || !orig.n) {
		err("%s: cannot read its table", v.hidden);
		return EX_ERR;
	}
	if (table_len(&orig) != live.t[0].len) {
		err("%s and %s differ in size: refusing", v.name, v.hidden);
		return EX_ERR;
	}

	/* 1. The original table into the inactive slot. */
	if (fail_at("finish-load") || !load_table(v.name, &orig, v.info.read_only)) {
		err("cannot load the original table into %s; it is unchanged", v.name);
		goto undo_load;
	}
	/* 2. Suspend. */
	if (fail_at("finish-suspend") || !suspend_volume(v.name)) {
		err("cannot suspend %s; it is unchanged", v.name);
		goto undo_load;
	}
	/* 3. Resume: the original table is back. */
	if (fail_at("finish-resume") || !simple_op(DM_DEVICE_RESUME, v.name) ||
	    fail_at("finish-resume-after")) {
		err("cannot resume %s with the original table; restoring the backup table",
		    v.name);
		if (read_table(v.name, DM_DEVICE_TABLE, &orig)) {
			swapped = backup_target(&orig) < 0;
			table_free(&orig);
		} else {
			swapped = false;
		}
		/* A reload of the same backup table takes the job over. */
		if (swapped ? !load_table(v.name, &live, v.info.read_only) ||
			      !(get_info(v.name, &info) && (info.suspended ||
				suspend_volume(v.name)))
			    : !simple_op(DM_DEVICE_CLEAR, v.name)) {
			err("RESTORE FAILED: check %s with dmsetup info/table", v.name);
			return EX_ERR;
		}
		if (!simple_op(DM_DEVICE_RESUME, v.name)) {
			err("RESTORE FAILED: %s may still be suspended (dmsetup resume %s)",
			    v.name, v.name);
			return EX_ERR;
		}
		err("%s is restored as it was (the job goes on)", v.name);
		return EX_ERR;
	}
	/* 4. The hidden device is unused now. */
	if (fail_at("finish-remove") || !simple_op(DM_DEVICE_REMOVE, v.hidden)) {
		err("%s has its original table back, but %s could not be removed: "
		    "run 'dmbackup finish %s' again or 'dmsetup remove %s'",
		    v.name, v.hidden, v.name, v.hidden);
		return EX_ERR;
	}
	printf("%s: original table restored (job %s, %" PRIu64 "/%" PRIu64 " chunks)\n",
	       v.name, s.state, s.copied, s.total);
	table_free(&orig);
	table_free(&live);
	return EX_OK;

undo_load:
	simple_op(DM_DEVICE_CLEAR, v.name);
	if (get_info(v.name, &info) && info.suspended)
		simple_op(DM_DEVICE_RESUME, v.name);
	return EX_ERR;
}
