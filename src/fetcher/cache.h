/* The fetcher cache's bookkeeping: which URI is held under which file, its
 * size, and the order of use, bounded by a byte capacity with the least
 * recently used entry evicted first.  Pure data, no I/O: the fetcher
 * deletes the files the eviction names.  Loop thread only. */
#ifndef BERTH_FETCHER_CACHE_H
#define BERTH_FETCHER_CACHE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct berth_cache_entry {
  char *uri;
  uint64_t id; /* the file is <cache_dir>/c<id> */
  uint64_t size;
  uint64_t last_used;
  int refs;      /* fetches copying from it now: never evicted meanwhile */
  bool ready;    /* downloaded; false while the one download runs */
  void *pending; /* the download filling it, while not ready */
  struct berth_cache_entry *next;
} berth_cache_entry;

typedef struct berth_cache {
  berth_cache_entry *entries;
  uint64_t capacity, used;
  uint64_t clock, next_id;
} berth_cache;

void berth_cache_init(berth_cache *cache, uint64_t capacity);
void berth_cache_clear(berth_cache *cache);

berth_cache_entry *berth_cache_find(berth_cache *cache, const char *uri);
/* A new entry, not ready, for a download about to start. */
berth_cache_entry *berth_cache_add(berth_cache *cache, const char *uri);
void berth_cache_set_ready(berth_cache *cache, berth_cache_entry *entry, uint64_t size);
/* Marks it the most recently used. */
void berth_cache_touch(berth_cache *cache, berth_cache_entry *entry);
/* Unlinks and frees the entry. */
void berth_cache_drop(berth_cache *cache, berth_cache_entry *entry);
/* The entry to evict next while the cache holds more than its capacity:
 * the least recently used ready one nobody is copying from; NULL when
 * nothing needs to or can go. */
berth_cache_entry *berth_cache_victim(berth_cache *cache);

#endif
