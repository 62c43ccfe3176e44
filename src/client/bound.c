#include "client/bound.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "client/backoff.h"
#include "client/calls.h"
#include "util/alloc.h"

/* How long the start waits for the WAIT to be sent before showing output. */
#define BOUND_SEND_WAIT_MS 5000

struct berth_bound_wait {
  pthread_t thread;
  berth_client *client;
  char *id;
  json_t *wait;
  berth_error err;
  int rc;
  volatile sig_atomic_t sent; /* the WAIT has reached berthd's socket */
  volatile sig_atomic_t done;
};

static void *wait_thread(void *data) {
  berth_bound_wait *bw = data;
  berth_backoff backoff;
  berth_backoff_init(&backoff, BERTH_RECONNECT_MIN_MS, BERTH_RECONNECT_MAX_MS, BERTH_RECONNECT_BUDGET_MS);
  for (;;) {
    bw->err = (berth_error){0};
    bw->rc = berth_call_wait_bound(bw->client, bw->id, &bw->wait, &bw->err);
    /* Unreachable or cut off: berthd is restarting and the container runs
     * on; the WAIT is sent again, binding it anew, until berthd answers or
     * the budget is spent.  A WAIT that held for a while was an answer:
     * the outage starts again at its end. */
    if (bw->rc != BERTH_EUNAVAIL) break;
    if (bw->sent) berth_backoff_reset(&backoff);
    bw->sent = 0;
    int64_t delay = berth_backoff_next(&backoff, berth_backoff_now_ms());
    if (delay < 0) {
      berth_error_prefix(&bw->err, "bound wait: gave up after %d s without berthd", BERTH_RECONNECT_BUDGET_MS / 1000);
      break;
    }
    nanosleep(&(struct timespec){.tv_sec = delay / 1000, .tv_nsec = (delay % 1000) * 1000000L}, NULL);
  }
  bw->done = 1;
  return NULL;
}

int berth_bound_wait_start(berth_client *client, const char *container_id, berth_bound_wait **out, berth_error *err) {
  berth_bound_wait *bw = berth_calloc(1, sizeof(*bw));
  bw->client = client;
  bw->id = berth_strdup(container_id);
  berth_client_set_sent_flag(client, &bw->sent);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  int e = pthread_create(&bw->thread, NULL, wait_thread, bw);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    berth_client_free(bw->client);
    free(bw->id);
    free(bw);
    return berth_error_set(err, BERTH_EINTERNAL, "start the wait thread: error %d", e);
  }
  /* The container is bound only once berthd holds the WAIT: until its
   * bytes are in berthd's socket, a SIGKILL of this process would leave the
   * container running.  Output is shown only after that (or after a while,
   * when berthd is away and the thread keeps retrying). */
  for (int ms = 0; ms < BOUND_SEND_WAIT_MS && !bw->sent && !bw->done; ms += 2)
    nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 2 * 1000000L}, NULL);
  *out = bw;
  return 0;
}

int berth_bound_wait_join(berth_bound_wait *bw, json_t **wait, berth_error *err) {
  pthread_join(bw->thread, NULL);
  int rc = bw->rc;
  if (rc < 0)
    *err = bw->err;
  else
    *wait = bw->wait;
  berth_client_free(bw->client);
  free(bw->id);
  free(bw);
  return rc;
}
