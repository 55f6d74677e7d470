/*
 * sha256: SHA-256 for digests and checksums (spec §8.2, §8.3, §7).
 *
 * A thin wrapper over OpenSSL's libcrypto, which uses the CPU's SHA instructions where
 * present (about ten times GLib's GChecksum on this hardware): every state exchange
 * hashes the whole tree.  A context is reusable: sha256_init() starts a new digest.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx sha256_ctx;

sha256_ctx *sha256_new(void);
void sha256_free(sha256_ctx *c);
void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t ret_digest[32]);
