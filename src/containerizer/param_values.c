#include "containerizer/param_values.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

/* --- value parsers, each as the docker CLI 20.10 has it -------------------- */

int berth_params_parse_bool(const char *value, bool *out, berth_error *err) {
  static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
  static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
  for (const char *const *y = yes; *y; y++)
    if (!strcmp(value, *y)) return *out = true, 0;
  for (const char *const *n = no; *n; n++)
    if (!strcmp(value, *n)) return *out = false, 0;
  return berth_error_set(err, BERTH_EINVAL, "'%.80s' is not a boolean (true, false, 1, 0, t, f)", value);
}

/* strconv.ParseInt: the whole string, an optional sign, no spaces.  base
 * 0 takes 0x.. and 0.. (octal) as pflag's integer flags do. */
int berth_params_parse_int(const char *value, int base, int64_t *out, berth_error *err) {
  if (!*value || isspace((unsigned char)value[0]))
    return berth_error_set(err, BERTH_EINVAL, "'%.80s' is not an integer", value);
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, base);
  if (*end || errno == ERANGE) return berth_error_set(err, BERTH_EINVAL, "'%.80s' is not a 64-bit integer", value);
  *out = v;
  return 0;
}

/* go-units RAMInBytes: ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$, the
 * number read as a float, units of 1024. */
int berth_params_parse_size(const char *value, int64_t *out, berth_error *err) {
  const char *p = value;
  size_t digits = 0, dots = 0;
  cleanup_free char *number = NULL; /* before any goto: cleanup runs at bad: too */
  while (isdigit((unsigned char)*p) || (*p == '.' && digits > 0 && isdigit((unsigned char)p[1]))) {
    if (*p == '.')
      dots++;
    else
      digits++;
    p++;
  }
  if (digits == 0 || dots > 1) goto bad;
  number = berth_strndup(value, (size_t)(p - value));
  if (*p == ' ') p++;
  double mul = 1;
  const char *units = "kmgtp";
  const char *u = *p ? strchr(units, tolower((unsigned char)*p)) : NULL;
  if (u) {
    for (const char *q = units; q <= u; q++) mul *= 1024;
    p++;
  }
  if (*p == 'i' || *p == 'I') p++;
  if (*p == 'b' || *p == 'B') p++;
  if (*p) goto bad;
  double size = strtod(number, NULL) * mul;
  if (!isfinite(size) || size >= 9223372036854775807.0) goto bad;
  *out = (int64_t)size;
  return 0;
bad:
  return berth_error_set(err, BERTH_EINVAL, "'%.80s' is not a size (a number with an optional unit b, k, m, g, t, p)",
                         value);
}

bool berth_params_is_ip(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Printable, no spaces: such values end up in files docker writes line by
 * line (/etc/hosts, /etc/resolv.conf), where a newline would add a line. */
bool berth_params_is_token(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!isgraph((unsigned char)*s)) return false;
  return true;
}

bool berth_params_chars_in(const char *s, const char *extra) {
  if (!*s) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr(extra, *s)) return false;
  return true;
}

static bool has_dotdot(const char *path) {
  for (const char *p = path; (p = strstr(p, "..")); p += 2)
    if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) return true;
  return false;
}

bool berth_params_abs_path(const char *s) {
  return s[0] == '/' && !has_dotdot(s) && berth_params_is_token(s) && !strchr(s, ':');
}

/* docker's validateDomain: alphanumeric labels with inner '-', joined by
 * dots, an optional final dot, at least one letter, under 255 bytes. */
bool berth_params_domain_ok(const char *s, size_t n) {
  if (n > 0 && s[n - 1] == '.') n--;
  if (n == 0 || n >= 255) return false;
  bool letter = false, label_start = true;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    letter |= isalpha((unsigned char)c) != 0;
    if (c == '.') {
      if (label_start || s[i - 1] == '-') return false;
      label_start = true;
    } else if (isalnum((unsigned char)c) || (c == '-' && !label_start)) {
      label_start = false;
    } else {
      return false;
    }
  }
  return letter && !label_start && s[n - 1] != '-';
}

bool berth_params_device_mode(const char *m) {
  size_t n = strlen(m);
  if (n == 0 || n > 3) return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr("rwm", m[i]) || memchr(m, m[i], i)) return false;
  return true;
}
