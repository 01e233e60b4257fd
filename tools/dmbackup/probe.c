// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a device holds, as libblkid sees it (the way mkfs and wipefs look
 * before they write): start refuses to write a backup over a file system,
 * a RAID or LVM member or a partition table, which may be the last good
 * backup, unless told --force.  Nor over a dm-backup metadata device
 * (libblkid does not know its superblock): another job's state.
 */
#include <blkid/blkid.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * meta_signature - does @path hold a dm-backup metadata superblock (its
 * magic at offset 0 or 4096, valid or not: any superblock says that the
 * device is a job's)?  SIG_FOUND with that job's uuid in @uuid (37 bytes),
 * SIG_NONE, or SIG_ERROR.
 */
enum signature meta_signature(const char *path, char *uuid)
{
	enum signature r = SIG_ERROR;
	uint8_t *blocks;
	int fd;

	*uuid = '\0';
	fd = meta_open(path, O_RDONLY);
	if (fd < 0)
		return SIG_ERROR;
	if (!posix_memalign((void **)&blocks, MD_BLOCK_SIZE, 2 * MD_BLOCK_SIZE)) {
		ssize_t n = pread(fd, blocks, 2 * MD_BLOCK_SIZE, 0);

		r = SIG_NONE;
		for (int i = 0; i < 2 && r == SIG_NONE; i++) {
			if (n < (i + 1) * MD_BLOCK_SIZE)
				break;
			if (meta_has_magic(blocks + i * MD_BLOCK_SIZE)) {
				meta_block_uuid(blocks + i * MD_BLOCK_SIZE, uuid);
				r = SIG_FOUND;
			}
		}
		if (n < 0)
			r = SIG_ERROR;
		free(blocks);
	}
	close(fd);
	return r;
}
