/*
 * limits: every size limit, protocol number and timer of pmxcfs, in one place.
 *
 * Each constant says where it comes from (pmxcfs spec section); tests and other
 * modules use these names, never the bare numbers.
 */
#pragma once

/* Entry types, as stored in the database `type` column (spec §8.1, DT_DIR/DT_REG). */
#define CFS_TYPE_DIR 4
#define CFS_TYPE_REG 8

/* Largest file: apply-time EFBIG limit (spec §5). */
#define CFS_MAX_FILE_SIZE (1024u * 1024u)
/* Total data: 32768 blocks of 4096 (spec §5, statfs), enforced at submission (§5.1). */
#define CFS_BLOCK_SIZE 4096u
#define CFS_MAX_BLOCKS 32768u
#define CFS_MAX_TOTAL_SIZE ((unsigned long long)CFS_MAX_BLOCKS * CFS_BLOCK_SIZE)
/* Entries including the root: statfs f_files, enforced at submission (spec §5). */
#define CFS_MAX_INODES 262144u
/* Longest name: statfs f_namemax; longer names refused at submission (spec §5). */
#define CFS_MAX_NAME_LEN 256u

/* Cluster-wide locks: directories below this path (spec §7). */
#define CFS_LOCK_DIR "priv/lock"
/* Lock expiry in seconds of local first-seen time (spec §7, appendix A). */
#define CFS_LOCK_TIMEOUT 120

/* Status layer limits (spec §5, §11). */
#define CFS_MAX_STATUS_VALUE 32768u
#define CFS_STATUS_KEY_LEN 256u
