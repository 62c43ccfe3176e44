#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *check(void *p) {
  if (!p) {
    fputs("berth: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *berth_malloc(size_t n) { return check(malloc(n ? n : 1)); }
void *berth_calloc(size_t count, size_t n) { return check(calloc(count ? count : 1, n ? n : 1)); }
void *berth_realloc(void *p, size_t n) { return check(realloc(p, n ? n : 1)); }
char *berth_strdup(const char *s) { return check(strdup(s)); }
char *berth_strndup(const char *s, size_t n) { return check(strndup(s, n)); }

char *berth_asprintf(const char *fmt, ...) {
  char *out = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&out, fmt, ap);
  va_end(ap);
  if (n < 0) check(NULL);
  return out;
}

void berth_cleanup_freep(void *p) {
  void **pp = p;
  free(*pp);
  *pp = NULL;
}

void berth_cleanup_closep(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}
