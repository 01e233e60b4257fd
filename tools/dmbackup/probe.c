// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a device holds, as libblkid sees it (the way mkfs and wipefs look
 * before they write): start refuses to write a backup over a file system,
 * a RAID or LVM member or a partition table, which may be the last good
 * backup, unless told --force.
 */
#include <blkid/blkid.h>
#include <stdio.h>
#include <string.h>

#include "dmbackup.h"

/* Append " key value" to @buf if the probe found @key. */
static void add_value(blkid_probe pr, const char *key, const char *label,
		      char *buf, size_t size)
{
	const char *val;
	size_t len = strlen(buf);

	if (!blkid_probe_lookup_value(pr, key, &val, NULL) && *val && len < size)
		snprintf(buf + len, size - len, "%s%s %s",
			 strchr(buf, '(') ? ", " : " (", label, val);
}

/*
 * Describe in @buf what blkid found on @pr after a successful probe: a
 * file system or other superblock (its type, UUID and label) or a
 * partition table.
 */
static void describe(blkid_probe pr, char *buf, size_t size)
{
	const char *type = NULL, *usage = NULL;

	blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
	if (!blkid_probe_lookup_value(pr, "TYPE", &type, NULL)) {
		snprintf(buf, size, "%s %s", type,
			 usage && !strcmp(usage, "filesystem") ? "file system" :
			 usage ? usage : "signature");
		add_value(pr, "UUID", "UUID", buf, size);
		add_value(pr, "LABEL", "label", buf, size);
		if (strchr(buf, '('))
			strncat(buf, ")", size - strlen(buf) - 1);
		return;
	}
	if (!blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL)) {
		snprintf(buf, size, "%s partition table", type);
		return;
	}
	snprintf(buf, size, "a signature blkid cannot name");
}

/*
 * device_signature - probe @path for a superblock (file system, swap,
 * RAID, LVM...) or a partition table.  Returns SIG_NONE, SIG_FOUND (@what
 * says what) or SIG_ERROR (@what says why it could not look).
 */
enum signature device_signature(const char *path, char *what, size_t size)
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	enum signature r = SIG_ERROR;
	int found;

	*what = '\0';
	if (!pr) {
		snprintf(what, size, "cannot open it to look for a signature");
		return SIG_ERROR;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_USAGE |
					  BLKID_SUBLKS_UUID |
					  BLKID_SUBLKS_LABEL);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	found = blkid_do_safeprobe(pr);
	if (found == 0) {
		describe(pr, what, size);
		r = SIG_FOUND;
	} else if (found == -2) {
		snprintf(what, size, "several signatures");
		r = SIG_FOUND;
	} else if (found == 1) {
		r = SIG_NONE;
	} else {
		snprintf(what, size, "cannot read it to look for a signature");
	}
	blkid_free_probe(pr);
	return r;
}
