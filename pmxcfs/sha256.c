/*
 * sha256: OpenSSL EVP SHA-256 behind a small interface (see sha256.h).
 */
#include "pmxcfs/sha256.h"

#include <glib.h>
#include <openssl/evp.h>

struct sha256_ctx {
    EVP_MD_CTX *md;
};

sha256_ctx *sha256_new(void)
{
    sha256_ctx *c = g_new0(sha256_ctx, 1);
    c->md = EVP_MD_CTX_new();
    g_assert(c->md);
    sha256_init(c);
    return c;
}

void sha256_free(sha256_ctx *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->md);
    g_free(c);
}

void sha256_init(sha256_ctx *c)
{
    /* only fails on allocation failure or an unavailable digest: a programming error */
    int ok = EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
    g_assert(ok == 1);
}

void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
    if (len)
        EVP_DigestUpdate(c->md, data, len);
}

void sha256_final(sha256_ctx *c, uint8_t ret_digest[32])
{
    unsigned int len = 32;
    EVP_DigestFinal_ex(c->md, ret_digest, &len);
}
