// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: multi-step operations: a list of steps, each with its undo,
 * run by one runner, and the failure injection that checks each step.
 */
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

/* listed_in - environment variable @var, a comma-separated list, has @step. */
static bool listed_in(const char *var, const char *step)
{
	const char *s = getenv(var);
	size_t len = strlen(step);

	for (; s && *s; s += strcspn(s, ","), s += *s == ',')
		if (!strncmp(s, step, len) && (s[len] == ',' || !s[len]))
			return true;
	return false;
}

/*
 * fail_at - failure injection for the selftests: true when the environment
 * variable DMBACKUP_FAIL_AT, a comma-separated list, names @step (a list,
 * so that a rollback step can fail after the step that set it off).  The
 * caller then behaves exactly as if the operation of that step had failed.
 */
bool fail_at(const char *step)
{
	if (!listed_in("DMBACKUP_FAIL_AT", step))
		return false;
	err("DMBACKUP_FAIL_AT=%s: simulating a failure of this step", step);
	return true;
}

/*
 * hook_at - a look inside a multi-step operation, for the selftests: when
 * DMBACKUP_HOOK_AT names @step, the shell command DMBACKUP_HOOK runs just
 * before it, with the step's name in DMBACKUP_HOOK_STEP (a group start's
 * test reads every volume there, while all are suspended: the images of
 * the point in time).  True if the command failed; the step then fails as
 * if its operation had.
 */
static bool hook_at(const char *step)
{
	const char *cmd = getenv("DMBACKUP_HOOK");
	int r;

	if (!cmd || !listed_in("DMBACKUP_HOOK_AT", step))
		return false;
	fflush(NULL);
	setenv("DMBACKUP_HOOK_STEP", step, 1);
	r = system(cmd);
	if (!r)
		return false;
	err("DMBACKUP_HOOK_AT=%s: the hook failed (status %d)", step, r);
	return true;
}

/*
 * run_steps - run @steps in order.  When one fails (or DMBACKUP_FAIL_AT
 * names it), its @failed cleans up after it, then the steps done are
 * undone in reverse order, back to the last @commit step done.  The first
 * cleanup or undo that fails stops the rollback: what the steps before it
 * would undo may no longer be what they did.
 */
enum steps_result run_steps(const struct step *steps, int n, void *ctx)
{
	int i, first = 0;

	for (i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		void *c = s->ctx ? s->ctx : ctx;

		if (!hook_at(s->name) && !fail_at(s->name) &&
		    (!s->run || s->run(c))) {
			if (s->commit)
				first = i + 1;
			continue;
		}
		/* A group's step: say which of its volumes and which step. */
		if (s->ctx)
			err("step %s failed: undoing the steps done before it, "
			    "of every volume, in reverse order", s->name);
		if (s->failed && !s->failed(c))
			return STEPS_UNDO_FAILED;
		while (--i >= first)
			if (steps[i].undo &&
			    !steps[i].undo(steps[i].ctx ? steps[i].ctx : ctx))
				return STEPS_UNDO_FAILED;
		return STEPS_UNDONE;
	}
	return STEPS_DONE;
}
