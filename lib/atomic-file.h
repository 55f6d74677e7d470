/*
 * atomic-file: replace a file's content atomically and durably.
 *
 * Writes a temporary file in the same directory, fsyncs it, renames it over the
 * target and fsyncs the directory, so that after a crash the target holds either the
 * old or the new content, never a mix (pmxcfs spec W16).
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace @path with @len bytes of @data, with permission bits @mode.  When @uid or
 * @gid is not (uid_t)-1 / (gid_t)-1 the file is chowned before the rename.
 * Returns 0 or a negative errno; on failure the target is unchanged and no temporary
 * file is left behind.
 */
int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                      gid_t gid);

/*
 * Like atomic_file_write(), but never replaces: the synced temporary file is hard-linked
 * to @path, so an existing @path (even one that appeared meanwhile) fails with -EEXIST
 * and is left alone.
 */
int atomic_file_create(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                       gid_t gid);

/* Write all @len bytes of @data to @fd, retrying on EINTR and short writes.
 * Returns 0 or a negative errno. */
int write_full(int fd, const void *data, size_t len);
