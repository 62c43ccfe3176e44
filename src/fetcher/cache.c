#include "fetcher/cache.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void berth_cache_init(berth_cache *cache, uint64_t capacity) {
  memset(cache, 0, sizeof(*cache));
  cache->capacity = capacity;
}

void berth_cache_clear(berth_cache *cache) {
  while (cache->entries) berth_cache_drop(cache, cache->entries);
}

berth_cache_entry *berth_cache_find(berth_cache *cache, const char *uri) {
  for (berth_cache_entry *e = cache->entries; e; e = e->next)
    if (!strcmp(e->uri, uri)) return e;
  return NULL;
}

berth_cache_entry *berth_cache_add(berth_cache *cache, const char *uri) {
  berth_cache_entry *e = berth_calloc(1, sizeof(*e));
  e->uri = berth_strdup(uri);
  e->id = ++cache->next_id;
  e->last_used = ++cache->clock;
  e->next = cache->entries;
  cache->entries = e;
  return e;
}

void berth_cache_set_ready(berth_cache *cache, berth_cache_entry *entry, uint64_t size) {
  entry->ready = true;
  entry->pending = NULL;
  entry->size = size;
  cache->used += size;
}

void berth_cache_touch(berth_cache *cache, berth_cache_entry *entry) { entry->last_used = ++cache->clock; }

void berth_cache_drop(berth_cache *cache, berth_cache_entry *entry) {
  for (berth_cache_entry **p = &cache->entries; *p; p = &(*p)->next) {
    if (*p != entry) continue;
    *p = entry->next;
    if (entry->ready) cache->used -= entry->size;
    free(entry->uri);
    free(entry);
    return;
  }
}

berth_cache_entry *berth_cache_victim(berth_cache *cache) {
  if (cache->used <= cache->capacity) return NULL;
  berth_cache_entry *oldest = NULL;
  for (berth_cache_entry *e = cache->entries; e; e = e->next)
    if (e->ready && e->refs == 0 && (!oldest || e->last_used < oldest->last_used)) oldest = e;
  return oldest;
}
