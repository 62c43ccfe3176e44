/* GET /logs (a berth extension): a container's stdout and stderr as
 * lines, merged in the order they were written, with the time of each,
 * for `berth logs`.  See the README's API section for the shape.
 *
 * A reply carries at most `limit` bytes of output (default and maximum
 * LOGS_MAX_REPLY) and a cursor; the caller asks again with the cursor
 * while `more` is true, and a follower polls with it until `ended`.  Work
 * per request is bounded by what it returns, plus, for `tail`, the last
 * lines' own bytes (read in windows growing from the end). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "containerizer/logmerge.h"
#include "containerizer/logs.h"
#include "util/alloc.h"
#include "util/text.h"

#define LOGS_MAX_REPLY (1u << 20)
/* Records in the first window a tail looks back through; each next one is
 * four times larger, until it holds TAIL_MAX_SCAN bytes: a tail never
 * reads more than that (on the loop), and gives what lies within it. */
#define TAIL_WINDOW 256
#define TAIL_MAX_SCAN (64u << 20)

typedef struct logs_query {
  unsigned streams;
  bool has_since, has_tail;
  int64_t since_ns;
  uint64_t tail;
  uint64_t cursor[3];
  size_t limit;
} logs_query;

typedef struct logs_reply {
  const logs_query *q;
  berth_logsource *src;
  bool drop_cont;   /* lines whose start was not seen are left out */
  bool counting;    /* a tail's first pass: count only */
  uint64_t count;   /* lines counted, or still to skip */
  uint64_t next[3]; /* the cursor after the lines handled */
  size_t used;      /* bytes of output in lines */
  bool more;        /* stopped at the limit */
  json_t *lines;
  char *buf;
} logs_reply;

static int parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-') return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, bool def, bool *out) {
  if (!s) {
    *out = def;
    return 0;
  }
  if (!strcmp(s, "1") || !strcmp(s, "true"))
    *out = true;
  else if (!strcmp(s, "0") || !strcmp(s, "false"))
    *out = false;
  else
    return -1;
  return 0;
}

static int parse_query(berth_http_request *req, logs_query *q, berth_error *err) {
  memset(q, 0, sizeof(*q));
  bool out, errs;
  if (parse_bool(berth_http_query(req, "stdout"), true, &out) < 0)
    return berth_error_set(err, BERTH_EINVAL, "stdout: must be 0 or 1");
  if (parse_bool(berth_http_query(req, "stderr"), true, &errs) < 0)
    return berth_error_set(err, BERTH_EINVAL, "stderr: must be 0 or 1");
  q->streams = (out ? 1u : 0u) | (errs ? 2u : 0u);
  const char *tail = berth_http_query(req, "tail");
  if (tail && strcmp(tail, "all") != 0) {
    if (parse_u64(tail, &q->tail) < 0)
      return berth_error_set(err, BERTH_EINVAL, "tail: '%.40s' is not a number of lines or all", tail);
    q->has_tail = true;
  }
  const char *since = berth_http_query(req, "since");
  if (since) {
    char *end;
    errno = 0;
    double v = strtod(since, &end);
    if (errno || end == since || *end || !(v >= 0) || v > 9e9)
      return berth_error_set(err, BERTH_EINVAL, "since: '%.40s' is not a unix time in seconds", since);
    q->has_since = true;
    q->since_ns = (int64_t)(v * 1e9);
  }
  if ((berth_http_query(req, "after_stdout") && parse_u64(berth_http_query(req, "after_stdout"), &q->cursor[1]) < 0) ||
      (berth_http_query(req, "after_stderr") && parse_u64(berth_http_query(req, "after_stderr"), &q->cursor[2]) < 0))
    return berth_error_set(err, BERTH_EINVAL, "after_stdout, after_stderr: must be byte offsets");
  uint64_t limit = LOGS_MAX_REPLY;
  if (berth_http_query(req, "limit") && (parse_u64(berth_http_query(req, "limit"), &limit) < 0 || limit == 0))
    return berth_error_set(err, BERTH_EINVAL, "limit: must be a number of bytes > 0");
  q->limit = limit > LOGS_MAX_REPLY ? LOGS_MAX_REPLY : (size_t)limit;
  return 0;
}

static const char *stream_name(int s) { return s == 1 ? "stdout" : "stderr"; }

/* Reads [start, start+len) of a stream; returns the bytes there. */
static size_t read_range(berth_logsource *src, int stream, uint64_t start, char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    long r = berth_logsource_read(src, stream, start + got, buf + got, len - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static int line_cb(void *data, const berth_logline *l) {
  logs_reply *r = data;
  const logs_query *q = r->q;
  int s = l->stream;
  if (l->end <= q->cursor[s]) return 0; /* handed out before */
  uint64_t start = l->start;
  bool cont = l->cont;
  if (start < q->cursor[s]) {
    /* The rest of a line a page cut: no filter, it was let through. */
    start = q->cursor[s];
    cont = true;
  } else if ((cont && r->drop_cont) || (q->has_since && l->time_ns < q->since_ns)) {
    r->next[s] = l->end;
    return 0;
  }
  if (r->counting) {
    r->count++;
    return 0;
  }
  if (r->count > 0) {
    r->count--;
    r->next[s] = l->end;
    return 0;
  }
  uint64_t len = l->end - start;
  size_t room = q->limit - r->used;
  if (len > room) {
    r->more = true;
    if (json_array_size(r->lines) > 0) return 1;
    len = room; /* a line longer than a page goes in pieces */
  }
  size_t got = read_range(r->src, s, start, r->buf, (size_t)len);
  if (got > 0) {
    cleanup_free char *b64 = berth_base64_encode((const unsigned char *)r->buf, got);
    json_t *line = json_pack("{s:s,s:I,s:s,s:b,s:b}", "stream", stream_name(s), "time_ns", (json_int_t)l->time_ns,
                             "data", b64, "cont", cont, "complete", l->complete && start + got == l->end);
    if (line) json_array_append_new(r->lines, line);
  }
  r->used += got;
  /* Bytes the files no longer hold are passed over. */
  r->next[s] = got == len ? start + len : l->end;
  return r->more ? 1 : 0;
}

static long read_cb(void *data, int stream, uint64_t offset, char *buf, size_t len) {
  logs_reply *r = data;
  return berth_logsource_read(r->src, stream, offset, buf, len);
}

static int run_scan(logs_reply *r, size_t from, bool final) {
  size_t n;
  const berth_logrec *recs = berth_logsource_records(r->src, &n);
  berth_logmerge_opts opts = {
      r->q->streams, final, {0, berth_logsource_first(r->src, 1), berth_logsource_first(r->src, 2)}};
  return berth_logmerge_scan(recs, n, from, &opts, read_cb, line_cb, r);
}

/* The record to start from: past the cursor and `since`, and for a tail
 * the smallest window from the end that holds the last `tail` lines. */
static size_t start_position(logs_reply *r, bool final) {
  const logs_query *q = r->q;
  size_t n;
  const berth_logrec *recs = berth_logsource_records(r->src, &n);
  size_t base = berth_logmerge_position(recs, n, q->streams, q->cursor);
  if (q->has_since) {
    size_t p = berth_logmerge_since(recs, n, q->since_ns);
    if (p > base) base = p;
  }
  r->drop_cont = q->has_since;
  if (!q->has_tail) return base;
  size_t from = n, scanned = 0;
  for (size_t window = TAIL_WINDOW;; window *= 4) {
    size_t to = from;
    from = n - base > window ? n - window : base;
    for (size_t i = from; i < to; i++)
      if (recs[i].stream >= 1 && recs[i].stream <= 2 && (q->streams & (1u << (recs[i].stream - 1))))
        scanned += recs[i].len;
    r->drop_cont = q->has_since || from > 0;
    r->counting = true;
    r->count = 0;
    run_scan(r, from, final);
    r->counting = false;
    if (r->count >= q->tail || from == base || scanned >= TAIL_MAX_SCAN) {
      r->count = r->count > q->tail ? r->count - q->tail : 0;
      memcpy(r->next, q->cursor, sizeof(r->next));
      return from;
    }
  }
}

/* What lies before the record a scan starts from is left out (before the
 * cursor, `since` or the tail's window): the cursor moves past it, so the
 * next page or poll does not come back for it. */
static void skip_before(logs_reply *r, size_t from) {
  size_t n;
  const berth_logrec *recs = berth_logsource_records(r->src, &n);
  bool seen[3] = {false, false, false};
  for (size_t i = from; i < n; i++) {
    int s = recs[i].stream;
    if (s < 1 || s > 2 || seen[s]) continue;
    seen[s] = true;
    if (recs[i].offset > r->next[s]) r->next[s] = recs[i].offset;
  }
  for (size_t i = 0; i < from && i < n; i++) {
    int s = recs[i].stream;
    if (s >= 1 && s <= 2 && !seen[s] && recs[i].offset + recs[i].len > r->next[s])
      r->next[s] = recs[i].offset + recs[i].len;
  }
}

void berth_api_logs(berth_api *api, berth_http_request *req) {
  berth_error err = {0};
  logs_query q;
  const char *id = berth_http_query(req, "container_id");
  if (!id || !*id) {
    berth_http_respond_error(req, 400, "container_id: required");
    return;
  }
  if (parse_query(req, &q, &err) < 0) {
    berth_http_respond_error(req, 400, err.msg);
    return;
  }
  berth_logsource *src = NULL;
  if (berth_cz_logs_open(api->cz, id, &src, &err) < 0) {
    berth_http_respond_error(req, berth_code_http_status(err.code), err.msg);
    return;
  }
  bool final = berth_logsource_final(src);
  logs_reply r = {.q = &q, .src = src, .lines = json_array(), .buf = berth_malloc(q.limit)};
  memcpy(r.next, q.cursor, sizeof(r.next));
  size_t from = start_position(&r, final);
  skip_before(&r, from);
  if (run_scan(&r, from, final) < 0) r.more = false;
  json_t *reply = json_pack("{s:o,s:{s:I,s:I},s:b,s:b}", "lines", r.lines, "next", "stdout", (json_int_t)r.next[1],
                            "stderr", (json_int_t)r.next[2], "more", r.more, "ended", final && !r.more);
  free(r.buf);
  berth_logsource_free(src);
  if (!reply) {
    berth_http_respond_error(req, 500, "logs: building the reply failed");
    return;
  }
  berth_http_respond_json(req, 200, reply);
}
