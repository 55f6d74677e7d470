/*
 * cs-error: cs_error_t to errno conversion.
 */
#include <errno.h>

#include "quorum/cs-error.h"

int cs_errno(cs_error_t err)
{
    switch (err) {
    case CS_OK:
        return 0;
    case CS_ERR_TRY_AGAIN:
    case CS_ERR_QUEUE_FULL:
        return -EAGAIN;
    case CS_ERR_LIBRARY:
    case CS_ERR_BAD_HANDLE:
        return -ENOTCONN;
    case CS_ERR_NO_MEMORY:
    case CS_ERR_NO_RESOURCES:
        return -ENOMEM;
    case CS_ERR_TIMEOUT:
        return -ETIMEDOUT;
    case CS_ERR_INVALID_PARAM:
    case CS_ERR_BAD_FLAGS:
        return -EINVAL;
    case CS_ERR_ACCESS:
    case CS_ERR_SECURITY:
        return -EACCES;
    case CS_ERR_NOT_EXIST:
    case CS_ERR_NAME_NOT_FOUND:
        return -ENOENT;
    case CS_ERR_EXIST:
        return -EEXIST;
    case CS_ERR_TOO_BIG:
        return -E2BIG;
    case CS_ERR_NOT_SUPPORTED:
        return -EOPNOTSUPP;
    case CS_ERR_BUSY:
        return -EBUSY;
    default:
        return -EIO;
    }
}
