// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: multi-step operations: a list of steps, each with its undo,
 * run by one runner, and the failure injection that checks each step.
 */
#include <stdlib.h>
#include <string.h>

#include "dmbackup.h"

/*
 * fail_at - failure injection for the selftests: true when the environment
 * variable DMBACKUP_FAIL_AT, a comma-separated list, names @step (a list,
 * so that a rollback step can fail after the step that set it off).  The
 * caller then behaves exactly as if the operation of that step had failed.
 */
bool fail_at(const char *step)
{
	const char *s = getenv("DMBACKUP_FAIL_AT");
	size_t len = strlen(step);

	for (; s && *s; s += strcspn(s, ","), s += *s == ',')
		if (!strncmp(s, step, len) && (s[len] == ',' || !s[len]))
			break;
	if (!s || !*s)
		return false;
	err("DMBACKUP_FAIL_AT=%s: simulating a failure of this step", step);
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

		if (!fail_at(s->name) && (!s->run || s->run(ctx))) {
			if (s->commit)
				first = i + 1;
			continue;
		}
		if (s->failed && !s->failed(ctx))
			return STEPS_UNDO_FAILED;
		while (--i >= first)
			if (steps[i].undo && !steps[i].undo(ctx))
				return STEPS_UNDO_FAILED;
		return STEPS_UNDONE;
	}
	return STEPS_DONE;
}
