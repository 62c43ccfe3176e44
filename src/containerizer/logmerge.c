#include "containerizer/logmerge.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define PIECE 65536

typedef struct held {
  berth_logline line;
  size_t seq; /* the record of its first byte */
} held;

typedef struct stream_state {
  bool seen;         /* a record of this stream was met */
  bool pending_cont; /* the next line's start was not seen */
  bool active;       /* open is being written */
  held open;
  uint64_t pos; /* next byte expected */
  held *fifo;   /* finished lines waiting for an earlier unfinished one */
  size_t head, count, cap;
} stream_state;

typedef struct scan {
  stream_state st[3];
  berth_logmerge_line_fn line_fn;
  void *data;
} scan;

static void push(stream_state *s, const held *h) {
  if (s->head + s->count == s->cap) {
    if (s->head > 0) {
      memmove(s->fifo, s->fifo + s->head, s->count * sizeof(*s->fifo));
      s->head = 0;
    } else {
      s->cap = s->cap ? s->cap * 2 : 64;
      s->fifo = berth_realloc(s->fifo, s->cap * sizeof(*s->fifo));
    }
  }
  s->fifo[s->head + s->count++] = *h;
}

/* The open line ends here unfinished (a gap, or too much held behind it);
 * what follows in this stream starts a line whose start was not seen. */
static void cut_open(stream_state *s) {
  if (!s->active) return;
  s->open.line.end = s->pos;
  s->open.line.complete = false;
  if (s->open.line.end > s->open.line.start) push(s, &s->open);
  s->active = false;
  s->pending_cont = true;
}

/* Gives every finished line not preceded by an unfinished one. */
static int emit(scan *sc) {
  for (;;) {
    int best = 0;
    bool best_open = false;
    size_t best_seq = 0;
    for (int s = 1; s <= 2; s++) {
      stream_state *st = &sc->st[s];
      const held *h = st->count ? &st->fifo[st->head] : st->active ? &st->open : NULL;
      if (!h) continue;
      if (!best || h->seq < best_seq) {
        best = s;
        best_seq = h->seq;
        best_open = st->count == 0;
      }
    }
    if (!best || best_open) return 0;
    stream_state *st = &sc->st[best];
    held h = st->fifo[st->head++];
    if (--st->count == 0) st->head = 0;
    if (sc->line_fn(sc->data, &h.line)) return 1;
  }
}

static size_t held_total(const scan *sc) { return sc->st[1].count + sc->st[2].count; }

static int feed(scan *sc, const berth_logrec *r, size_t seq, berth_logmerge_read_fn read_fn, char *buf,
                uint64_t first) {
  stream_state *st = &sc->st[r->stream];
  if (!st->seen) {
    st->seen = true;
    st->pos = r->offset;
    bool at_start = r->offset == 0;
    char prev;
    if (!at_start) {
      long got = read_fn(sc->data, r->stream, r->offset - 1, &prev, 1);
      if (got < 0) return -1;
      at_start = got == 1 && prev == '\n';
    }
    st->pending_cont = !at_start;
  }
  if (r->offset != st->pos) { /* records missing in between */
    cut_open(st);
    st->pos = r->offset;
  }
  uint64_t rem = r->len;
  if (st->pos < first) { /* the head of this record was rotated away */
    uint64_t gone = first - st->pos < rem ? first - st->pos : rem;
    cut_open(st);
    st->pending_cont = true;
    st->pos += gone;
    rem -= gone;
  }
  while (rem > 0) {
    size_t want = rem < PIECE ? (size_t)rem : PIECE;
    long got = read_fn(sc->data, r->stream, st->pos, buf, want);
    if (got < 0) return -1;
    if (got == 0) { /* not there any more: rotated away or cut */
      cut_open(st);
      st->pos += rem;
      break;
    }
    size_t p = 0;
    while (p < (size_t)got) {
      if (!st->active) {
        st->active = true;
        st->open = (held){{r->stream, r->time_ns, st->pos + p, 0, st->pending_cont, false}, seq};
        st->pending_cont = false;
      }
      /* The open line may take up to MAX_LINE bytes; past that it is cut. */
      uint64_t room = BERTH_LOGMERGE_MAX_LINE - (st->pos + p - st->open.line.start);
      size_t look = (size_t)got - p < room ? (size_t)got - p : (size_t)room;
      const char *nl = memchr(buf + p, '\n', look);
      if (!nl && look == (size_t)got - p) break;
      if (!nl) {
        st->open.line.end = st->pos + p + look;
        st->open.line.complete = false;
        push(st, &st->open);
        st->active = false;
        st->pending_cont = true;
        p += look;
        continue;
      }
      size_t at = (size_t)(nl - buf);
      st->open.line.end = st->pos + at + 1;
      st->open.line.complete = true;
      push(st, &st->open);
      st->active = false;
      p = at + 1;
    }
    st->pos += (uint64_t)got;
    rem -= (uint64_t)got;
  }
  return 0;
}

int berth_logmerge_scan(const berth_logrec *recs, size_t n, size_t from, const berth_logmerge_opts *opts,
                        berth_logmerge_read_fn read_fn, berth_logmerge_line_fn line_fn, void *data) {
  scan sc = {.line_fn = line_fn, .data = data};
  cleanup_free char *buf = berth_malloc(PIECE);
  int rc = 0;
  for (size_t i = from; i < n && rc == 0; i++) {
    const berth_logrec *r = &recs[i];
    if (r->stream < 1 || r->stream > 2 || !(opts->streams & (1u << (r->stream - 1))) || r->len == 0) continue;
    if (feed(&sc, r, i, read_fn, buf, opts->first[r->stream]) < 0) {
      rc = -1;
      break;
    }
    if (held_total(&sc) > BERTH_LOGMERGE_HOLD) {
      /* Too much waits behind an unfinished line: give it as it is. */
      int s = sc.st[1].active && (!sc.st[2].active || sc.st[1].open.seq < sc.st[2].open.seq) ? 1 : 2;
      cut_open(&sc.st[s]);
    }
    rc = emit(&sc);
  }
  if (rc == 0 && opts->final) {
    for (int s = 1; s <= 2; s++) {
      stream_state *st = &sc.st[s];
      if (!st->active) continue;
      st->open.line.end = st->pos;
      st->open.line.complete = false;
      push(st, &st->open);
      st->active = false;
    }
    rc = emit(&sc);
  }
  free(sc.st[1].fifo);
  free(sc.st[2].fifo);
  return rc;
}

size_t berth_logmerge_position(const berth_logrec *recs, size_t n, unsigned streams, const uint64_t cursor[3]) {
  for (size_t i = 0; i < n; i++) {
    const berth_logrec *r = &recs[i];
    if (r->stream < 1 || r->stream > 2 || !(streams & (1u << (r->stream - 1)))) continue;
    if (r->offset + r->len > cursor[r->stream]) return i;
  }
  return n;
}

size_t berth_logmerge_since(const berth_logrec *recs, size_t n, int64_t since_ns) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (recs[mid].time_ns < since_ns)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}
