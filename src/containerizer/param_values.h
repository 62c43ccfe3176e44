/* The syntax of docker CLI parameter values (parameters.h): numbers,
 * sizes, booleans, paths, addresses and names, each checked the way the
 * docker CLI 20.10 checks it.  Pure string checks: no JSON, no I/O. */
#ifndef BERTH_CONTAINERIZER_PARAM_VALUES_H
#define BERTH_CONTAINERIZER_PARAM_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Value parsers, exposed for the unit tests; each returns 0 or
 * BERTH_EINVAL with err naming the value. */

/* docker's RAMInBytes: "64m", "1g", "1.5GiB", "512" (bytes); binary units. */
int berth_params_parse_size(const char *value, int64_t *out, berth_error *err);
/* Go's strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False. */
int berth_params_parse_bool(const char *value, bool *out, berth_error *err);

/* Go's strconv.ParseInt: the whole string, an optional sign, no spaces;
 * base 0 takes 0x.. and 0.. (octal). */
int berth_params_parse_int(const char *value, int base, int64_t *out, berth_error *err);

/* Predicates for the table's parsers in parameters.c. */
bool berth_params_is_ip(const char *s);                       /* IPv4 or IPv6 */
bool berth_params_is_token(const char *s);                    /* non-empty, printable, no spaces */
bool berth_params_chars_in(const char *s, const char *extra); /* non-empty, alphanumerics or extra */
bool berth_params_abs_path(const char *s);                    /* absolute token, no '..' or ':' */
bool berth_params_domain_ok(const char *s, size_t n);         /* docker's validateDomain */
bool berth_params_device_mode(const char *m);                 /* a combination of r, w and m */

#endif
