#include "api/guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "util/alloc.h"
#include "util/log.h"

/* Peers remembered for their guess budget; when full, the one seen least
 * recently is forgotten (it starts again with a full burst). */
#define PEER_SLOTS 256
#define LOG_EVERY_MS 1000

typedef struct peer {
  unsigned char key[16]; /* IPv4-mapped, or the /64 of an IPv6 address */
  bool used;
  double budget;
  uint64_t at_ms;
} peer;

struct berth_guard_conn {
  int fd;
  berth_guard_phase phase;
  uint64_t since_ms;
  bool proven;
  bool shut;
  unsigned char key[16];
  char addr[INET6_ADDRSTRLEN];
  berth_guard_conn *prev, *next; /* oldest first */
};

struct berth_guard {
  char *name;
  bool evict;
  uv_mutex_t lock;
  berth_guard_conn *head, *tail;
  size_t unproven; /* neither proven nor shut */
  peer peers[PEER_SLOTS];
  uint64_t logged_ms;
  unsigned long unlogged;
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

berth_guard *berth_guard_new(const char *name, bool evict) {
  berth_guard *g = berth_calloc(1, sizeof(*g));
  g->evict = evict;
  g->name = berth_strdup(name);
  uv_mutex_init(&g->lock);
  return g;
}

void berth_guard_free(berth_guard *g) {
  if (!g) return;
  uv_mutex_destroy(&g->lock);
  free(g->name);
  free(g);
}

/* Caller holds the lock. */
static void shut(berth_guard *g, berth_guard_conn *c) {
  if (c->shut) return;
  c->shut = true;
  if (!c->proven) g->unproven--;
  /* Not close(): the fd is MHD's.  Both directions, so MHD's next read
   * ends and it closes the connection itself. */
  shutdown(c->fd, SHUT_RDWR);
}

static void peer_key(const struct sockaddr *sa, socklen_t len, unsigned char key[16], char *addr, size_t addr_len) {
  memset(key, 0, 16);
  snprintf(addr, addr_len, "local");
  if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &in->sin_addr, 4);
    inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)addr_len);
  } else if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    /* One host usually holds a whole /64: counting per address would give
     * it 2^64 budgets. */
    memcpy(key, &in6->sin6_addr, 8);
    inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)addr_len);
  }
}

berth_guard_conn *berth_guard_open(berth_guard *g, int fd, const struct sockaddr *peer_addr, socklen_t peer_len) {
  berth_guard_conn *c = berth_calloc(1, sizeof(*c));
  c->fd = fd;
  c->phase = BERTH_GUARD_HEADERS;
  c->since_ms = now_ms();
  peer_key(peer_addr, peer_len, c->key, c->addr, sizeof(c->addr));
  uv_mutex_lock(&g->lock);
  c->prev = g->tail;
  if (g->tail)
    g->tail->next = c;
  else
    g->head = c;
  g->tail = c;
  g->unproven++;
  if (g->evict && g->unproven > BERTH_GUARD_UNPROVEN_MAX) {
    for (berth_guard_conn *o = g->head; o; o = o->next) {
      if (o->proven || o->shut) continue;
      log_debug("%s: %zu connections without a valid request; shutting the oldest (%s)", g->name, g->unproven, o->addr);
      shut(g, o);
      break;
    }
  }
  uv_mutex_unlock(&g->lock);
  return c;
}

void berth_guard_close(berth_guard *g, berth_guard_conn *c) {
  if (!c) return;
  uv_mutex_lock(&g->lock);
  if (!c->proven && !c->shut) g->unproven--;
  if (c->prev)
    c->prev->next = c->next;
  else
    g->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    g->tail = c->prev;
  uv_mutex_unlock(&g->lock);
  free(c);
}

void berth_guard_set_phase(berth_guard *g, berth_guard_conn *c, berth_guard_phase phase) {
  if (!c) return;
  uv_mutex_lock(&g->lock);
  c->phase = phase;
  c->since_ms = now_ms();
  uv_mutex_unlock(&g->lock);
}

void berth_guard_prove(berth_guard *g, berth_guard_conn *c) {
  if (!c) return;
  uv_mutex_lock(&g->lock);
  if (!c->proven && !c->shut) g->unproven--;
  c->proven = true;
  uv_mutex_unlock(&g->lock);
}

bool berth_guard_proven(const berth_guard_conn *c) { return c && c->proven; }

/* Caller holds the lock.  The peer's slot, refilled up to now. */
static peer *peer_slot(berth_guard *g, const unsigned char key[16], uint64_t now) {
  peer *free_slot = NULL, *oldest = NULL;
  for (size_t i = 0; i < PEER_SLOTS; i++) {
    peer *p = &g->peers[i];
    if (p->used && !memcmp(p->key, key, 16)) {
      double refill = (double)(now - p->at_ms) / BERTH_GUARD_GUESS_REFILL_MS;
      p->budget = p->budget + refill > BERTH_GUARD_GUESS_BURST ? BERTH_GUARD_GUESS_BURST : p->budget + refill;
      p->at_ms = now;
      return p;
    }
    if (!p->used && !free_slot) free_slot = p;
    if (p->used && (!oldest || p->at_ms < oldest->at_ms)) oldest = p;
  }
  peer *p = free_slot ? free_slot : oldest;
  memcpy(p->key, key, 16);
  p->used = true;
  p->budget = BERTH_GUARD_GUESS_BURST;
  p->at_ms = now;
  return p;
}

bool berth_guard_may_guess(berth_guard *g, berth_guard_conn *c) {
  if (!c) return true;
  uv_mutex_lock(&g->lock);
  bool ok = peer_slot(g, c->key, now_ms())->budget >= 1.0;
  uv_mutex_unlock(&g->lock);
  return ok;
}

void berth_guard_failed(berth_guard *g, berth_guard_conn *c, bool charge, const char *why) {
  uint64_t now = now_ms();
  uv_mutex_lock(&g->lock);
  if (c && charge) {
    peer *p = peer_slot(g, c->key, now);
    p->budget = p->budget >= 1.0 ? p->budget - 1.0 : 0.0;
  }
  bool log_now = now - g->logged_ms >= LOG_EVERY_MS;
  unsigned long skipped = g->unlogged;
  if (log_now) {
    g->logged_ms = now;
    g->unlogged = 0;
  } else {
    g->unlogged++;
  }
  uv_mutex_unlock(&g->lock);
  if (log_now)
    log_warn("%s: refused a request from %s: %s (%lu more refusals not logged)", g->name, c ? c->addr : "?", why,
             skipped);
}

void berth_guard_sweep(berth_guard *g) {
  uint64_t now = now_ms();
  size_t n = 0;
  uv_mutex_lock(&g->lock);
  for (berth_guard_conn *c = g->head; c; c = c->next) {
    uint64_t limit = c->phase == BERTH_GUARD_HEADERS ? BERTH_GUARD_HEADER_DEADLINE_MS
                     : c->phase == BERTH_GUARD_BODY  ? BERTH_GUARD_BODY_DEADLINE_MS
                                                     : 0;
    if (c->shut || !limit || now - c->since_ms <= limit) continue;
    shut(g, c);
    n++;
  }
  uv_mutex_unlock(&g->lock);
  if (n) log_debug("%s: shut %zu connections that did not send their request in time", g->name, n);
}
