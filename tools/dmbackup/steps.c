// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmbackup: multi-step operations and their failure injection.
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
