/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Trace events of dm-backup, system "dm_backup".  The cow events follow the
 * steps QEMU's backup_do_cow() traces: enter, skip, process, read/write
 * failure, return; dm-backup adds the wait on a copy in flight, the walk's
 * copies, finished copies and the job's state changes.
 *
 * Copyright (C) 2026 The dm-backup authors
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM dm_backup

#if !defined(_DM_BACKUP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _DM_BACKUP_TRACE_H

#include <linux/tracepoint.h>

#include "dm-backup.h"		/* enum backup_state */

/* A bio that changes data meets chunks not copied yet. */
TRACE_EVENT(dm_backup_cow_enter,
	    TP_PROTO(dev_t dev, sector_t sector, unsigned int nr_sectors,
		     unsigned long first, unsigned long last),
	    TP_ARGS(dev, sector, nr_sectors, first, last),
	    TP_STRUCT__entry(__field(dev_t, dev)
			     __field(sector_t, sector)
			     __field(unsigned int, nr_sectors)
			     __field(unsigned long, first)
			     __field(unsigned long, last)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->sector = sector;
			   __entry->nr_sectors = nr_sectors;
			   __entry->first = first;
			   __entry->last = last;),
	    TP_printk("dev %d:%d sector %llu nr_sectors %u chunks %lu-%lu",
		      MAJOR(__entry->dev), MINOR(__entry->dev),
		      (unsigned long long)__entry->sector, __entry->nr_sectors,
		      __entry->first, __entry->last)
);

/* The bio goes down to the origin (ret 0) or fails (ret < 0). */
TRACE_EVENT(dm_backup_cow_return,
	    TP_PROTO(dev_t dev, sector_t sector, unsigned int nr_sectors,
		     int ret),
	    TP_ARGS(dev, sector, nr_sectors, ret),
	    TP_STRUCT__entry(__field(dev_t, dev)
			     __field(sector_t, sector)
			     __field(unsigned int, nr_sectors)
			     __field(int, ret)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->sector = sector;
			   __entry->nr_sectors = nr_sectors;
			   __entry->ret = ret;),
	    TP_printk("dev %d:%d sector %llu nr_sectors %u ret %d",
		      MAJOR(__entry->dev), MINOR(__entry->dev),
		      (unsigned long long)__entry->sector, __entry->nr_sectors,
		      __entry->ret)
);

DECLARE_EVENT_CLASS(dm_backup_chunks,
		    TP_PROTO(dev_t dev, unsigned long chunk,
			     unsigned int nr_chunks),
		    TP_ARGS(dev, chunk, nr_chunks),
		    TP_STRUCT__entry(__field(dev_t, dev)
				     __field(unsigned long, chunk)
				     __field(unsigned int, nr_chunks)),
		    TP_fast_assign(__entry->dev = dev;
				   __entry->chunk = chunk;
				   __entry->nr_chunks = nr_chunks;),
		    TP_printk("dev %d:%d chunk %lu nr_chunks %u",
			      MAJOR(__entry->dev), MINOR(__entry->dev),
			      __entry->chunk, __entry->nr_chunks)
);

/* Chunks of a bio that are already copied. */
DEFINE_EVENT(dm_backup_chunks, dm_backup_cow_skip,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks),
	     TP_ARGS(dev, chunk, nr_chunks));

/* A bio starts a copy of chunks. */
DEFINE_EVENT(dm_backup_chunks, dm_backup_cow_process,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks),
	     TP_ARGS(dev, chunk, nr_chunks));

/* A bio waits for a copy in flight (the walk's or another bio's). */
DEFINE_EVENT(dm_backup_chunks, dm_backup_cow_wait,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks),
	     TP_ARGS(dev, chunk, nr_chunks));

/* The background walk starts a copy. */
DEFINE_EVENT(dm_backup_chunks, dm_backup_walk_copy,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks),
	     TP_ARGS(dev, chunk, nr_chunks));

/* A copy reached the backup device. */
DEFINE_EVENT(dm_backup_chunks, dm_backup_copy_done,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks),
	     TP_ARGS(dev, chunk, nr_chunks));

/* A copy dropped unfinished: the job ended, or the device suspended. */
DEFINE_EVENT(dm_backup_chunks, dm_backup_copy_abort,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks),
	     TP_ARGS(dev, chunk, nr_chunks));

DECLARE_EVENT_CLASS(dm_backup_copy_error,
		    TP_PROTO(dev_t dev, unsigned long chunk,
			     unsigned int nr_chunks, int err),
		    TP_ARGS(dev, chunk, nr_chunks, err),
		    TP_STRUCT__entry(__field(dev_t, dev)
				     __field(unsigned long, chunk)
				     __field(unsigned int, nr_chunks)
				     __field(int, err)),
		    TP_fast_assign(__entry->dev = dev;
				   __entry->chunk = chunk;
				   __entry->nr_chunks = nr_chunks;
				   __entry->err = err;),
		    TP_printk("dev %d:%d chunk %lu nr_chunks %u err %d",
			      MAJOR(__entry->dev), MINOR(__entry->dev),
			      __entry->chunk, __entry->nr_chunks, __entry->err)
);

/* Reading a copy from the origin failed. */
DEFINE_EVENT(dm_backup_copy_error, dm_backup_read_fail,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks,
		      int err),
	     TP_ARGS(dev, chunk, nr_chunks, err));

/* Writing a copy to the backup device failed. */
DEFINE_EVENT(dm_backup_copy_error, dm_backup_write_fail,
	     TP_PROTO(dev_t dev, unsigned long chunk, unsigned int nr_chunks,
		      int err),
	     TP_ARGS(dev, chunk, nr_chunks, err));

/* The states by name, so that user space tools resolve them too. */
TRACE_DEFINE_ENUM(BACKUP_RUNNING);
TRACE_DEFINE_ENUM(BACKUP_PAUSED);
TRACE_DEFINE_ENUM(BACKUP_COMPLETED);
TRACE_DEFINE_ENUM(BACKUP_FAILED);
TRACE_DEFINE_ENUM(BACKUP_CANCELLED);

#define show_backup_state(s)					\
	__print_symbolic(s, { BACKUP_RUNNING, "running" },	\
			 { BACKUP_PAUSED, "paused" },		\
			 { BACKUP_COMPLETED, "completed" },	\
			 { BACKUP_FAILED, "failed" },		\
			 { BACKUP_CANCELLED, "cancelled" })

/* The job changed state. */
TRACE_EVENT(dm_backup_state,
	    TP_PROTO(dev_t dev, int old_state, int new_state),
	    TP_ARGS(dev, old_state, new_state),
	    TP_STRUCT__entry(__field(dev_t, dev)
			     __field(int, old_state)
			     __field(int, new_state)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->old_state = old_state;
			   __entry->new_state = new_state;),
	    TP_printk("dev %d:%d %s -> %s", MAJOR(__entry->dev),
		      MINOR(__entry->dev),
		      show_backup_state(__entry->old_state),
		      show_backup_state(__entry->new_state))
);

#endif /* _DM_BACKUP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE dm_backup_trace
#include <trace/define_trace.h>
