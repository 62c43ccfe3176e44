#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

static const struct {
  int code;
  const char *name;
  int http;
} code_table[] = {
    {BERTH_OK, "OK", 200},
    {BERTH_EINVAL, "EINVAL", 400},
    {BERTH_ENOENT, "ENOENT", 404},
    {BERTH_ECONFLICT, "ECONFLICT", 409},
    {BERTH_ETOOBIG, "ETOOBIG", 413},
    {BERTH_EDOCKER, "EDOCKER", 500},
    {BERTH_EUNAVAIL, "EUNAVAIL", 503},
    {BERTH_EIO, "EIO", 500},
    {BERTH_ESTORE, "ESTORE", 500},
    {BERTH_ECANCELED, "ECANCELED", 500},
    {BERTH_EINTERNAL, "EINTERNAL", 500},
};

static int lookup(int code) {
  for (size_t i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++)
    if (code_table[i].code == code) return (int)i;
  return -1;
}

const char *berth_code_name(int code) {
  int i = lookup(code);
  return i < 0 ? "EUNKNOWN" : code_table[i].name;
}

int berth_code_http_status(int code) {
  int i = lookup(code);
  return i < 0 ? 500 : code_table[i].http;
}

/* A message may carry docker's or a task's bytes and may have been cut by
 * vsnprintf or a "%.200s" anywhere: make it valid UTF-8 (invalid bytes
 * become U+FFFD) and cut it only between characters, so every JSON builder
 * that later takes it succeeds. */
static void make_text(berth_error *err) {
  size_t len = strnlen(err->msg, sizeof(err->msg) - 1);
  size_t clean_len;
  char *clean = berth_utf8_sanitize(err->msg, len, &clean_len);
  if (clean_len > sizeof(err->msg) - 1) clean_len = berth_utf8_cut(clean, sizeof(err->msg) - 1);
  memcpy(err->msg, clean, clean_len);
  err->msg[clean_len] = '\0';
  free(clean);
}

int berth_error_set(berth_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    make_text(err);
  }
  return code;
}

int berth_error_errno(berth_error *err, int errnum, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg))
      snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
    err->code = BERTH_EIO;
    make_text(err);
  }
  return BERTH_EIO;
}

int berth_error_prefix(berth_error *err, const char *fmt, ...) {
  if (!err) return BERTH_EINTERNAL;
  char line[BERTH_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  /* Append ": <old message>" by hand: a truncated line beats a warning
   * about snprintf truncation under -Werror. */
  size_t used = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
  size_t room = sizeof(line) - 1 - used;
  const char *sep = ": ";
  for (const char *p = sep; *p && room > 0; p++, room--) line[used++] = *p;
  size_t old_len = strnlen(err->msg, sizeof(err->msg));
  if (old_len > room) old_len = room;
  memcpy(line + used, err->msg, old_len);
  line[used + old_len] = '\0';
  memcpy(err->msg, line, sizeof(line));
  make_text(err);
  return err->code;
}

void berth_error_clear(berth_error *err) {
  if (err) {
    err->code = 0;
    err->msg[0] = '\0';
  }
}
