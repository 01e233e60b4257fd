// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-backup sysfs: /sys/block/dm-N/backup/{speed,state,progress,sync_mode}.
 *
 * The directory belongs to the dm device, not to one table: on a reload
 * the new table's instance resumes before the old one is destroyed, so
 * both exist for a while.  A registry entry per device holds the kobject
 * and points at the live instance; the newest resumed instance takes the
 * entry over, and the destructor of the instance that owns it removes the
 * directory (a table without "backup" replaced it, or the device goes).
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#include <linux/blkdev.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/sysfs.h>

#include "dm-backup.h"

struct backup_kobj {
	struct kobject kobj;
	struct list_head list;		/* on backup_kobjs */
	struct mapped_device *md;
	struct backup_c *bc;		/* the live instance, NULL once gone */
};

/*
 * Protects backup_kobjs and every entry's @bc.  Attribute methods hold it
 * while they use @bc, so the destructor, which clears @bc under it, never
 * frees an instance in use.  Never held across kobject_del(), which waits
 * for attribute methods to return.
 */
static DEFINE_MUTEX(backup_sysfs_lock);
static LIST_HEAD(backup_kobjs);

struct backup_sysfs_attr {
	struct attribute attr;
	ssize_t (*show)(struct backup_c *bc, char *buf);
	ssize_t (*store)(struct backup_c *bc, const char *buf, size_t len);
};

static ssize_t speed_show(struct backup_c *bc, char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(bc->speed));
}

/* A plain number of bytes per second, or one with a K, M or G suffix. */
static int parse_speed_with_suffix(const char *buf, size_t len, u64 *speed)
{
	char num[24];
	unsigned int shift = 0;
	u64 v;

	if (len && buf[len - 1] == '\n')
		len--;
	if (len) {
		switch (buf[len - 1]) {
		case 'K': case 'k':
			shift = 10;
			break;
		case 'M': case 'm':
			shift = 20;
			break;
		case 'G': case 'g':
			shift = 30;
			break;
		}
		if (shift)
			len--;
	}
	if (!len || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, buf, len);
	num[len] = '\0';
	/* kstrtou64 refuses signs other than '+', junk and overflow. */
	if (num[0] == '+' || kstrtou64(num, 10, &v) || v > (U64_MAX >> shift))
		return -EINVAL;
	*speed = v << shift;
	return 0;
}

static ssize_t speed_store(struct backup_c *bc, const char *buf, size_t len)
{
	u64 speed;

	if (parse_speed_with_suffix(buf, len, &speed))
		return -EINVAL;
	backup_set_speed(bc, speed);
	return len;
}

static ssize_t state_show(struct backup_c *bc, char *buf)
{
	return sysfs_emit(buf, "%s\n", backup_state_name(READ_ONCE(bc->job->state)));
}

static ssize_t progress_show(struct backup_c *bc, char *buf)
{
	unsigned long copied;

	spin_lock(&bc->job->lock);
	copied = bc->job->nr_copied;
	spin_unlock(&bc->job->lock);
	return sysfs_emit(buf, "%lu/%lu\n", copied - bc->job->nr_unmapped,
			  bc->nr_chunks - bc->job->nr_unmapped);
}

static ssize_t sync_mode_show(struct backup_c *bc, char *buf)
{
	return sysfs_emit(buf, "%s\n", backup_sync_mode_name(bc->sync_mode));
}

static ssize_t uuid_show(struct backup_c *bc, char *buf)
{
	return sysfs_emit(buf, "%pUb\n", bc->job->uuid);
}

/* "1" when the job keeps its state on a metadata device. */
static ssize_t persistent_show(struct backup_c *bc, char *buf)
{
	return sysfs_emit(buf, "%d\n", !!bc->job->meta);
}

#define BACKUP_ATTR_RO(_name) \
	static struct backup_sysfs_attr backup_attr_##_name = \
		__ATTR(_name, 0444, _name##_show, NULL)
#define BACKUP_ATTR_RW(_name) \
	static struct backup_sysfs_attr backup_attr_##_name = \
		__ATTR(_name, 0644, _name##_show, _name##_store)

BACKUP_ATTR_RW(speed);
BACKUP_ATTR_RO(state);
BACKUP_ATTR_RO(progress);
BACKUP_ATTR_RO(sync_mode);
BACKUP_ATTR_RO(uuid);
BACKUP_ATTR_RO(persistent);

static struct attribute *backup_attrs[] = {
	&backup_attr_speed.attr,
	&backup_attr_state.attr,
	&backup_attr_progress.attr,
	&backup_attr_sync_mode.attr,
	&backup_attr_uuid.attr,
	&backup_attr_persistent.attr,
	NULL,
};
ATTRIBUTE_GROUPS(backup);

static ssize_t backup_attr_show(struct kobject *kobj, struct attribute *attr,
				char *buf)
{
	struct backup_kobj *bk = container_of(kobj, struct backup_kobj, kobj);
	struct backup_sysfs_attr *a =
		container_of(attr, struct backup_sysfs_attr, attr);
	ssize_t r = -ENODEV;

	mutex_lock(&backup_sysfs_lock);
	if (bk->bc)
		r = a->show(bk->bc, buf);
	mutex_unlock(&backup_sysfs_lock);
	return r;
}

static ssize_t backup_attr_store(struct kobject *kobj, struct attribute *attr,
				 const char *buf, size_t len)
{
	struct backup_kobj *bk = container_of(kobj, struct backup_kobj, kobj);
	struct backup_sysfs_attr *a =
		container_of(attr, struct backup_sysfs_attr, attr);
	ssize_t r = -ENODEV;

	if (!a->store)
		return -EPERM;
	mutex_lock(&backup_sysfs_lock);
	if (bk->bc)
		r = a->store(bk->bc, buf, len);
	mutex_unlock(&backup_sysfs_lock);
	return r;
}

static const struct sysfs_ops backup_sysfs_ops = {
	.show = backup_attr_show,
	.store = backup_attr_store,
};

static void backup_kobj_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct backup_kobj, kobj));
}

static const struct kobj_type backup_ktype = {
	.sysfs_ops = &backup_sysfs_ops,
	.default_groups = backup_groups,
	.release = backup_kobj_release,
};

static struct backup_kobj *backup_kobj_find(struct mapped_device *md)
{
	struct backup_kobj *bk;

	list_for_each_entry(bk, &backup_kobjs, list)
		if (bk->md == md)
			return bk;
	return NULL;
}

/* At resume: make @bc the instance behind the device's directory. */
/*
 * From ->resume, while the device is still suspended: an allocation that
 * writes back through it would wait for ever, so none may do I/O.
 */
void backup_sysfs_attach(struct backup_c *bc)
{
	struct mapped_device *md = dm_table_get_md(bc->ti->table);
	unsigned int noio = memalloc_noio_save();
	struct backup_kobj *bk;
	int r;

	mutex_lock(&backup_sysfs_lock);
	bk = backup_kobj_find(md);
	if (bk) {
		bk->bc = bc;
		goto out;
	}
	bk = kzalloc(sizeof(*bk), GFP_KERNEL);
	if (!bk) {
		DMWARN("%s: no memory for the sysfs directory",
		       dm_device_name(md));
		goto out;
	}
	bk->md = md;
	bk->bc = bc;
	r = kobject_init_and_add(&bk->kobj, &backup_ktype,
				 &disk_to_dev(dm_disk(md))->kobj, "backup");
	if (r) {
		DMWARN("%s: cannot create the sysfs directory: %d",
		       dm_device_name(md), r);
		kobject_put(&bk->kobj);
		goto out;
	}
	list_add(&bk->list, &backup_kobjs);
out:
	mutex_unlock(&backup_sysfs_lock);
	memalloc_noio_restore(noio);
}

/* In the destructor: remove the directory if @bc still owns it. */
void backup_sysfs_detach(struct backup_c *bc)
{
	struct backup_kobj *bk;

	mutex_lock(&backup_sysfs_lock);
	list_for_each_entry(bk, &backup_kobjs, list) {
		if (bk->bc == bc) {
			bk->bc = NULL;
			list_del(&bk->list);
			goto found;
		}
	}
	mutex_unlock(&backup_sysfs_lock);
	return;
found:
	mutex_unlock(&backup_sysfs_lock);
	kobject_del(&bk->kobj);
	kobject_put(&bk->kobj);
}
