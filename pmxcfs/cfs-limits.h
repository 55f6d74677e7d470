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
/* A status key/value broadcast carries the key in a field of this size (spec §10.6). */
#define CFS_STATUS_KEY_FIELD 256u
/* `nodeip` values must be NUL-terminated and shorter than this (spec §5, §11.1). */
#define CFS_MAX_NODEIP_LEN 256u
/* RRD values must be NUL-terminated and shorter than this (spec §5, §11.1). */
#define CFS_MAX_RRD_VALUE 4096u
/* RRD table: entries expire after 300 s, the dump is reused for 2 s (spec §11.6). */
#define CFS_RRD_EXPIRE_SECONDS 300u
#define CFS_RRD_DUMP_CACHE_SECONDS 2u

/* Cluster log (spec §5, §11.5). */
#define CFS_CLOG_MAX_ENTRY_SIZE 4096u  /* one entry, nominal size */
#define CFS_CLOG_RING_SIZE 131072u     /* the ring, 8192 x 16 */
#define CFS_CLOG_RING_HEADER 8u        /* size + cpos */
#define CFS_CLOG_ENTRY_HEADER 48u      /* nominal size of an entry without strings */
#define CFS_CLOG_ENTRY_STRINGS 44u     /* offset of the strings in an entry */
#define CFS_CLOG_MAX_FIELD 255u        /* node, ident, tag: bytes including the NUL */
#define CFS_CLOG_DEFAULT_DUMP 50u      /* entries in `.clusterlog`, default of the IPC dump */

/* kvstore message subtypes (spec §10.6). */
#define CFS_KVSTORE_MSG_UPDATE 1u
#define CFS_KVSTORE_MSG_UPDATE_COMPLETE 2u /* defined, never sent */
#define CFS_KVSTORE_MSG_LOG 3u

/* IPC service `pve2` (spec §12). */
#define CFS_IPC_SERVICE "pve2"
#define CFS_IPC_REQUEST_HEADER 16u
#define CFS_IPC_RESPONSE_HEADER 24u
/* The Perl client's buffer (8192 x 128); ours use twice that (spec §12.3). */
#define CFS_IPC_PERL_BUFFER (8192u * 128u)
#define CFS_IPC_CLIENT_BUFFER (2u * 1024u * 1024u)
/* Request ids (spec §12.4); the Perl client calls them CFS_IPC_<name>. */
#define CFS_IPC_GET_FS_VERSION 1
#define CFS_IPC_GET_CLUSTER_INFO 2
#define CFS_IPC_GET_GUEST_LIST 3
#define CFS_IPC_SET_STATUS 4
#define CFS_IPC_GET_STATUS 5
#define CFS_IPC_GET_CONFIG 6
#define CFS_IPC_LOG_CLUSTER_MSG 7
#define CFS_IPC_GET_CLUSTER_LOG 8
#define CFS_IPC_GET_RRD_DUMP 10
#define CFS_IPC_GET_GUEST_CONFIG_PROPERTY 11
#define CFS_IPC_VERIFY_TOKEN 12
#define CFS_IPC_GET_GUEST_CONFIG_PROPERTIES 13
/* Request layouts (spec §12.4): offsets from the start of the request. */
#define CFS_IPC_SET_STATUS_MIN 272u  /* header + 256-byte key */
#define CFS_IPC_GET_STATUS_SIZE 528u /* header + key + node name */
#define CFS_IPC_LOG_STRINGS 19u      /* header + priority + ident_len + tag_len */
#define CFS_IPC_CLUSTER_LOG_USER 32u /* header + max + 3 reserved u32 */
#define CFS_IPC_GUEST_PROPS 20u      /* header + vmid */
