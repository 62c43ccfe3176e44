/* A bounded queue of bytes waiting to be sent on one connection (a
 * SUBSCRIBE stream).  Pure data structure, no locking: the stream that
 * owns it holds its lock around every call.
 *
 * The bound counts the bytes waiting, except those pushed as exempt (the
 * stream's first record, the SUBSCRIBED snapshot, which may be larger than
 * any bound): a push that would take the rest past the limit is refused
 * whole, and the owner drops the reader rather than block or grow. */
#ifndef BERTH_API_OUTQ_H
#define BERTH_API_OUTQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct berth_outq_block berth_outq_block;

typedef struct berth_outq {
  berth_outq_block *head, *tail;
  size_t queued; /* bytes waiting, exempt ones included */
  size_t exempt; /* of them, exempt bytes still waiting (they are first) */
  size_t limit;  /* of the others */
} berth_outq;

void berth_outq_init(berth_outq *q, size_t limit);
/* Frees what waits. */
void berth_outq_clear(berth_outq *q);

/* Copies len bytes in.  False (nothing queued) when the non-exempt bytes
 * would then exceed the limit.  Exempt bytes must come before any other. */
bool berth_outq_push(berth_outq *q, const char *buf, size_t len, bool exempt);

/* Moves up to max bytes out, oldest first; returns how many. */
size_t berth_outq_take(berth_outq *q, char *dst, size_t max);

/* Bytes waiting that count against the limit. */
size_t berth_outq_counted(const berth_outq *q);

#endif
