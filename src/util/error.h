/* Error values carried up the call chain.
 *
 * A fallible function returns 0 or a negative berth_code and fills a
 * berth_error with a message that says what failed and why.  Callers add
 * context with berth_error_prefix() on the way up so the line a user sees
 * names every layer ("launch web-1: pull image 'x': connection refused").
 */
#ifndef BERTH_UTIL_ERROR_H
#define BERTH_UTIL_ERROR_H

#include <stddef.h>

/* Every code berth uses; the table in error.c holds their names. */
typedef enum berth_code {
  BERTH_OK = 0,
  BERTH_EINVAL = -1,     /* bad input from a caller: HTTP 400 */
  BERTH_ENOENT = -2,     /* unknown object: HTTP 404 */
  BERTH_ECONFLICT = -3,  /* wrong state for the call: HTTP 409 */
  BERTH_ETOOBIG = -4,    /* request too large: HTTP 413 */
  BERTH_EDOCKER = -5,    /* docker answered with an error */
  BERTH_EUNAVAIL = -6,   /* docker or another dependency unreachable: 503 */
  BERTH_EIO = -7,        /* a system call failed */
  BERTH_ESTORE = -8,     /* sqlite failed */
  BERTH_ECANCELED = -9,  /* an operation was aborted on purpose */
  BERTH_EINTERNAL = -10, /* a bug: HTTP 500 */
} berth_code;

#define BERTH_ERROR_MSG_MAX 1024

typedef struct berth_error {
  int code;
  char msg[BERTH_ERROR_MSG_MAX];
} berth_error;

/* Sets err (if not NULL) and returns code, so callers can write
 * `return berth_error_set(err, BERTH_EINVAL, "bad '%s'", x);`. */
int berth_error_set(berth_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like berth_error_set, appending ": strerror(errnum)". */
int berth_error_errno(berth_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to the message; returns the code unchanged. */
int berth_error_prefix(berth_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void berth_error_clear(berth_error *err);

/* "EINVAL", "ENOENT", ... for logs. */
const char *berth_code_name(int code);

/* HTTP status that a code maps to (400, 404, 409, 413, 503, 500). */
int berth_code_http_status(int code);

#endif
