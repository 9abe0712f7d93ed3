/* The event log's only door to calls that change the disk: write, fdatasync/fsync, rename,
 * ftruncate, unlink, mkdir. Keeping them here lets tests inject faults (a full disk) with
 * io_fault_set(), the way SQLite's test VFS does.
 *
 * Every function returns 0 or a negative errno. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_IO_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Writes all of buf at pos (retrying short writes). */
int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t pos);
/* Writes all iov[0..cnt) at pos, IOV_MAX entries per system call; iov is clobbered. */
int io_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t pos);
int io_datasync(int fd);
/* Writes zeros over [from, to) and fdatasyncs them (the preallocated tail, zero_tail.c). */
int io_write_zeros(int fd, uint64_t from, uint64_t to);
/* fsync of a directory, making renames, creations and unlinks in it durable. */
int io_fsync_dir(const char *dir);
int io_rename(const char *from, const char *to);
int io_truncate(int fd, uint64_t size);
int io_unlink(const char *path);
/* Creates (or empties) path for writing: open(O_CREAT | O_TRUNC) with flags added. A
 * descriptor or a negative errno. */
int io_open_new(const char *path, int flags);
/* mkdir(path, 0755); an existing directory is not an error. */
int io_mkdir(const char *path);

/* Crash-safe replacement of dir/name with buf: writes dir/name.tmp, fdatasyncs it, renames
 * it over dir/name and fsyncs dir. */
int io_replace_file(const char *dir, const char *name, const void *buf, size_t len);

/* ---- fault injection (tests only) ----------------------------------------------------- */

enum io_fault_op {
    IO_FAULT_WRITE = 0, /* io_pwrite_all, io_pwritev_all */
    IO_FAULT_SYNC = 1,  /* io_datasync, io_fsync_dir */
    IO_FAULT_ZEROS = 2, /* io_write_zeros (apart, so write faults keep hitting records) */
    IO_FAULT_OPS
};

/* Makes the next `count` calls of op fail with -err (count < 0: every call until cleared).
 * A failing write first really writes half of its bytes, as a disk filling up does. Process
 * wide; meant for single-threaded test setup. */
void io_fault_set(enum io_fault_op op, int err, int count);
/* Makes every io_datasync take at least `us` microseconds longer (a slow disk); 0 ends it.
 * Cleared by io_fault_clear too. */
void io_fault_sync_delay(unsigned us);
void io_fault_clear(void);

#endif
