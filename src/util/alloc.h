/* Allocation that aborts on failure: out of memory is not an error path
 * (STYLE.md), and cleanup helpers for __attribute__((cleanup)). */
#ifndef BERTH_UTIL_ALLOC_H
#define BERTH_UTIL_ALLOC_H

#include <stddef.h>

void *berth_malloc(size_t n);
void *berth_calloc(size_t count, size_t n);
void *berth_realloc(void *p, size_t n);
char *berth_strdup(const char *s);
char *berth_strndup(const char *s, size_t n);
char *berth_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void berth_cleanup_freep(void *p);
void berth_cleanup_closep(int *fd);

#define cleanup_free __attribute__((cleanup(berth_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(berth_cleanup_closep)))

#endif
