/* The fetcher (API.md §6): brings a launch's URIs into its sandbox.
 *
 * Downloads (http, https) run on the libuv loop through curl's multi
 * interface, several at once, each bounded by a timeout, a stall timeout
 * and a size cap.  Local files (file:// and absolute paths) must lie under
 * --allowed_host_paths, as host volumes must.  Copying and extracting into
 * the sandbox block, so they run on the libuv thread pool (see place.h).
 * Cached URIs are kept in the cache directory, bounded in bytes, least
 * recently used evicted; fetches of one URI at once share one download.
 *
 * The fetcher knows nothing of containers: it is given a sandbox directory
 * and reports through a callback.  Loop thread only. */
#ifndef BERTH_FETCHER_FETCHER_H
#define BERTH_FETCHER_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/error.h"

typedef struct berth_fetcher berth_fetcher;
typedef struct berth_fetch berth_fetch;

typedef struct berth_fetch_uri {
  const char *value;
  const char *output_file; /* NULL: the URI's last path segment */
  bool extract, executable, cache;
} berth_fetch_uri;

typedef struct berth_fetcher_config {
  const char *cache_dir;                 /* created if missing; its c<N> files are ours */
  uint64_t cache_size;                   /* bytes */
  uint64_t max_size;                     /* per URI, downloaded or extracted; 0: none */
  int64_t timeout_ns;                    /* per download; 0: none */
  int64_t stall_timeout_ns;              /* abort a download that moves no byte this long */
  const char *const *allowed_host_paths; /* for local URIs; the caller's */
} berth_fetcher_config;

typedef struct berth_fetch_stats {
  uint64_t uris;       /* URIs placed */
  uint64_t bytes;      /* bytes of the fetched files */
  uint64_t downloaded; /* bytes that came over the network for this fetch */
  uint64_t cache_hits;
  double ms;
} berth_fetch_stats;

/* Runs once per fetch unless it was cancelled.  rc 0, or <0 with err
 * saying "Failed to fetch '<uri>': <cause>". */
typedef void (*berth_fetch_done_cb)(int rc, const berth_error *err, const berth_fetch_stats *stats, void *data);

typedef enum { BERTH_URI_HTTP, BERTH_URI_LOCAL } berth_uri_kind;

/* Parses a URI's value: its kind, the local path (local kind; caller
 * frees) and the name it gets in the sandbox (last path segment, without
 * query or fragment; may be "" when the URI has none; caller frees). */
int berth_fetch_uri_parse(const char *value, berth_uri_kind *kind, char **local_path, char **name, berth_error *err);

/* Validates one URI as a launch may give it: a known kind, and a name to
 * write to (output_file, a plain file name, or one from the URI). */
int berth_fetch_uri_check(const berth_fetch_uri *uri, berth_error *err);

/* Makes the cache directory and removes cache files a previous berthd
 * left (the cache does not outlive the daemon, as in Mesos). */
int berth_fetcher_new(uv_loop_t *loop, const berth_fetcher_config *config, berth_fetcher **out, berth_error *err);

/* Aborts every download and fetch (no callbacks) and frees the fetcher
 * once its handles are closed and the thread pool is done with it. */
void berth_fetcher_free(berth_fetcher *fetcher);

/* Fetches uris (copied) into the existing directory sandbox_dir, logging
 * to <sandbox_dir>/fetch.log.  Returns the handle, valid until cb runs or
 * it is cancelled. */
berth_fetch *berth_fetcher_start(berth_fetcher *fetcher, const char *sandbox_dir, const berth_fetch_uri *uris, size_t n,
                                 berth_fetch_done_cb cb, void *data);

/* Stops a fetch: its downloads end now (a download others share goes on
 * for them), partial files are removed, cb is not called. */
void berth_fetch_cancel(berth_fetch *fetch);

#endif
