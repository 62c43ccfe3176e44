/* Unit tests for api/guard: eviction of unproven connections and the
 * per-peer budget of wrong tokens.  Connections are socketpairs: the guard
 * shuts its end, and the other end then reads an end of stream. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/guard.h"

typedef struct pair {
  int mine, theirs; /* mine: what the guard sees (MHD's side) */
} pair;

static pair open_pair(void) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  return (pair){.mine = sv[0], .theirs = sv[1]};
}

/* Whether the guard shut this connection: the client side reads EOF. */
static bool was_shut(pair p) {
  char c;
  return recv(p.theirs, &c, 1, 0) == 0;
}

static struct sockaddr_in addr4(const char *ip) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

static void evicts_the_oldest_unproven_connection(void **state) {
  (void)state;
  berth_guard *g = berth_guard_new("tcp:test", true);
  enum { N = BERTH_GUARD_UNPROVEN_MAX + 2 };
  pair p[N];
  berth_guard_conn *c[N];
  struct sockaddr_in a = addr4("127.0.0.9");
  /* The first proves itself: never evicted however many follow. */
  for (int i = 0; i < N; i++) {
    p[i] = open_pair();
    c[i] = berth_guard_open(g, p[i].mine, (struct sockaddr *)&a, sizeof(a));
    if (i == 0) berth_guard_prove(g, c[0]);
  }
  assert_false(was_shut(p[0]));
  /* MAX + 1 unproven were opened: the oldest of them (1) went. */
  assert_true(was_shut(p[1]));
  for (int i = 2; i < N; i++) assert_false(was_shut(p[i]));
  for (int i = 0; i < N; i++) {
    berth_guard_close(g, c[i]);
    close(p[i].mine);
    close(p[i].theirs);
  }
  berth_guard_free(g);
}

static void unix_listener_never_evicts(void **state) {
  (void)state;
  berth_guard *g = berth_guard_new("unix:test", false);
  enum { N = BERTH_GUARD_UNPROVEN_MAX + 5 };
  pair p[N];
  berth_guard_conn *c[N];
  for (int i = 0; i < N; i++) {
    p[i] = open_pair();
    c[i] = berth_guard_open(g, p[i].mine, NULL, 0);
  }
  for (int i = 0; i < N; i++) assert_false(was_shut(p[i]));
  for (int i = 0; i < N; i++) {
    berth_guard_close(g, c[i]);
    close(p[i].mine);
    close(p[i].theirs);
  }
  berth_guard_free(g);
}

static void wrong_tokens_use_up_the_peer_budget_only(void **state) {
  (void)state;
  berth_guard *g = berth_guard_new("tcp:test", true);
  pair pa = open_pair(), pb = open_pair();
  struct sockaddr_in a = addr4("10.0.0.1"), b = addr4("10.0.0.2");
  berth_guard_conn *ca = berth_guard_open(g, pa.mine, (struct sockaddr *)&a, sizeof(a));
  berth_guard_conn *cb = berth_guard_open(g, pb.mine, (struct sockaddr *)&b, sizeof(b));
  for (int i = 0; i < BERTH_GUARD_GUESS_BURST; i++) {
    assert_true(berth_guard_may_guess(g, ca));
    berth_guard_failed(g, ca, true, "wrong bearer token");
  }
  /* The refill is one per 500 ms: far more than this test takes. */
  assert_false(berth_guard_may_guess(g, ca));
  assert_true(berth_guard_may_guess(g, cb));
  berth_guard_close(g, ca);
  berth_guard_close(g, cb);
  close(pa.mine);
  close(pa.theirs);
  close(pb.mine);
  close(pb.theirs);
  berth_guard_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(evicts_the_oldest_unproven_connection),
      cmocka_unit_test(unix_listener_never_evicts),
      cmocka_unit_test(wrong_tokens_use_up_the_peer_budget_only),
  };
  return cmocka_run_group_tests_name("server-guard", tests, NULL, NULL);
}
