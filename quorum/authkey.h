/*
 * authkey: the corosync authentication key (/etc/corosync/authkey).
 *
 * A key is AUTHKEY_SIZE bytes from the kernel's random generator, stored 0400 and
 * owned by root.  Creating one never replaces an existing file, and a crash leaves
 * either no key or the complete key, never a partial one.
 */
#pragma once

#include <stddef.h>

/* corosync-keygen's default key length (2048 bits); corosync accepts 1024 to 4096 bytes
   with knet, and 128 bytes minimum. */
#define AUTHKEY_SIZE 256

/*
 * Create a new random key at @path (0400, owner root).  Returns 0, -EEXIST if @path
 * exists (it is left alone), or another negative errno (nothing is left behind).
 */
int authkey_generate(const char *path);
