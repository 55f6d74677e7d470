/*
 * cs-error: the one place where corosync's cs_error_t becomes an errno.
 *
 * corosync returns CS_OK (= 1, not 0) on success.  Every caller of a corosync library
 * converts through cs_errno() and never lets cs_error_t escape its module.
 */
#pragma once

#include <corosync/corotypes.h>
#include <errno.h>

/* 0 for CS_OK, otherwise a negative errno (-EAGAIN for CS_ERR_TRY_AGAIN, -ENOTCONN for
 * a lost connection: CS_ERR_LIBRARY, CS_ERR_BAD_HANDLE). */
int cs_errno(cs_error_t err);

/* True if @r (from cs_errno) means the connection to corosync is gone. */
static inline int cs_errno_is_disconnect(int r)
{
    return r == -ENOTCONN;
}
