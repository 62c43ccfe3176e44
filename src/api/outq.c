#include "api/outq.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct berth_outq_block {
  berth_outq_block *next;
  size_t len, off;
  char data[];
};

void berth_outq_init(berth_outq *q, size_t limit) {
  memset(q, 0, sizeof(*q));
  q->limit = limit;
}

void berth_outq_clear(berth_outq *q) {
  while (q->head) {
    berth_outq_block *b = q->head;
    q->head = b->next;
    free(b);
  }
  q->tail = NULL;
  q->queued = q->exempt = 0;
}

size_t berth_outq_counted(const berth_outq *q) { return q->queued - q->exempt; }

bool berth_outq_push(berth_outq *q, const char *buf, size_t len, bool exempt) {
  if (!exempt && (len > q->limit || berth_outq_counted(q) > q->limit - len)) return false;
  if (len == 0) return true;
  berth_outq_block *b = berth_malloc(sizeof(*b) + len);
  b->next = NULL;
  b->len = len;
  b->off = 0;
  memcpy(b->data, buf, len);
  if (q->tail)
    q->tail->next = b;
  else
    q->head = b;
  q->tail = b;
  q->queued += len;
  if (exempt) q->exempt += len;
  return true;
}

size_t berth_outq_take(berth_outq *q, char *dst, size_t max) {
  size_t n = 0;
  while (q->head && n < max) {
    berth_outq_block *b = q->head;
    size_t k = b->len - b->off;
    if (k > max - n) k = max - n;
    memcpy(dst + n, b->data + b->off, k);
    b->off += k;
    n += k;
    if (b->off == b->len) {
      q->head = b->next;
      if (!q->head) q->tail = NULL;
      free(b);
    }
  }
  q->queued -= n;
  /* Exempt bytes went in first, so they come out first. */
  q->exempt -= n < q->exempt ? n : q->exempt;
  return n;
}
