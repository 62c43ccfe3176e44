#include "containerizer/health_probe.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Results waiting for the loop; the hub is shared by the loop and every
 * probe thread, and freed by whichever lets go last. */
typedef struct probe_job {
  berth_probe_request req;
  char *proc_root, *path;
  berth_probe_result result;
  berth_probe_hub *hub;
  struct probe_job *next;
} probe_job;

struct berth_probe_hub {
  uv_async_t async;
  pthread_mutex_t lock;
  size_t refs;    /* the loop's one, plus one per thread */
  size_t threads; /* running */
  bool closed;    /* no result goes to the loop any more */
  probe_job *done, *done_tail;
  berth_probe_result_cb cb;
  void *data;
};

static void job_free(probe_job *j) {
  free(j->proc_root);
  free(j->path);
  free(j);
}

/* Drops one reference; the caller holds the lock, which is released. */
static void hub_unref_unlock(berth_probe_hub *hub) {
  bool last = --hub->refs == 0;
  pthread_mutex_unlock(&hub->lock);
  if (!last) return;
  while (hub->done) {
    probe_job *j = hub->done;
    hub->done = j->next;
    job_free(j);
  }
  pthread_mutex_destroy(&hub->lock);
  free(hub);
}

static void async_cb(uv_async_t *async) {
  berth_probe_hub *hub = async->data;
  pthread_mutex_lock(&hub->lock);
  probe_job *list = hub->done;
  hub->done = hub->done_tail = NULL;
  pthread_mutex_unlock(&hub->lock);
  while (list) {
    probe_job *j = list;
    list = j->next;
    if (!hub->closed) hub->cb(&j->result, hub->data);
    job_free(j);
  }
}

berth_probe_hub *berth_probe_hub_new(uv_loop_t *loop, berth_probe_result_cb cb, void *data) {
  berth_probe_hub *hub = berth_calloc(1, sizeof(*hub));
  pthread_mutex_init(&hub->lock, NULL);
  hub->refs = 1;
  hub->cb = cb;
  hub->data = data;
  uv_async_init(loop, &hub->async, async_cb);
  hub->async.data = hub;
  return hub;
}

static void hub_closed_cb(uv_handle_t *handle) {
  berth_probe_hub *hub = handle->data;
  pthread_mutex_lock(&hub->lock);
  hub_unref_unlock(hub);
}

void berth_probe_hub_close(berth_probe_hub *hub) {
  if (!hub) return;
  /* Under the lock: a thread that sees closed never touches the async
   * handle, which uv_close is about to end. */
  pthread_mutex_lock(&hub->lock);
  hub->closed = true;
  pthread_mutex_unlock(&hub->lock);
  uv_close((uv_handle_t *)&hub->async, hub_closed_cb);
}

/* ---- the thread's side: nothing here touches the loop ---- */

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ms_left(double deadline) {
  double left = (deadline - mono_now()) * 1000.0;
  return left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left + 1;
}

/* Waits for events on fd until the deadline; 0 when they came. */
static int wait_fd(int fd, short events, double deadline) {
  for (;;) {
    int ms = ms_left(deadline);
    if (ms == 0) return -ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms);
    if (n > 0) return 0;
    if (n == 0) continue;
    if (errno != EINTR) return -errno;
  }
}

unsigned long long berth_proc_starttime(const char *proc_root, int pid) {
  char path[4096], buf[1024];
  snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  /* After ") ": field 3 (state) is the first; 22 is 19 fields on. */
  p++;
  for (int field = 3; field < 22; field++) {
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
    if (!*p) return 0;
  }
  while (*p == ' ') p++;
  if (!isdigit((unsigned char)*p)) return 0;
  return strtoull(p, NULL, 10);
}

int berth_http_status_parse(const char *buf, size_t len, int *status) {
  static const char prefix[] = "HTTP/";
  size_t i = 0;
  for (; i < sizeof(prefix) - 1; i++) {
    if (i >= len) return 0;
    if (buf[i] != prefix[i]) return -1;
  }
  /* Version: digit [. digit] */
  if (i >= len) return 0;
  if (!isdigit((unsigned char)buf[i++])) return -1;
  if (i >= len) return 0;
  if (buf[i] == '.') {
    if (++i >= len) return 0;
    if (!isdigit((unsigned char)buf[i++])) return -1;
  }
  if (i >= len) return 0;
  if (buf[i] != ' ') return -1;
  /* RFC 9112: one space; a few more are tolerated, not unboundedly. */
  for (int spaces = 0; i < len && buf[i] == ' '; i++)
    if (++spaces > 8) return -1;
  int code = 0;
  for (int d = 0; d < 3; d++, i++) {
    if (i >= len) return 0;
    if (!isdigit((unsigned char)buf[i])) return -1;
    code = code * 10 + (buf[i] - '0');
  }
  /* Exactly three digits, then the reason or the line's end. */
  if (i >= len) return 0;
  if (buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n') return -1;
  if (code < 100) return -1;
  *status = code;
  return 1;
}

static void fail(probe_job *j, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(probe_job *j, int rc, const char *fmt, ...) {
  j->result.rc = rc < 0 ? rc : -EIO;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->result.message, sizeof(j->result.message), fmt, ap);
  va_end(ap);
}

/* Enters the container's network namespace, refusing a pid that is no
 * longer the container's.  With a pidfd the process is pinned: if it is
 * still alive after the namespace was opened, the pid named it all along. */
static int enter_netns(probe_job *j) {
  const berth_probe_request *r = &j->req;
  char path[4096];
  int pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
  if (pidfd < 0 && errno == ESRCH) {
    fail(j, -ESRCH, "%s", "the container's process is gone");
    return -1;
  }
  if (r->starttime && berth_proc_starttime(j->proc_root, r->pid) != r->starttime) {
    if (pidfd >= 0) close(pidfd);
    fail(j, -ESRCH, "%s", "the container's process is gone (its pid was reused)");
    return -1;
  }
  snprintf(path, sizeof(path), "%s/%d/ns/net", j->proc_root, r->pid);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  int open_errno = errno;
  bool same = true;
  if (pidfd >= 0) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    same = poll(&p, 1, 0) == 0; /* readable: it exited */
    close(pidfd);
  } else if (r->starttime) {
    same = berth_proc_starttime(j->proc_root, r->pid) == r->starttime;
  }
  if (ns < 0 || !same) {
    if (ns >= 0) close(ns);
    if (!same)
      fail(j, -ESRCH, "%s", "the container's process is gone");
    else
      fail(j, -open_errno, "open the container's network namespace: %s", strerror(open_errno));
    return -1;
  }
  int rc = setns(ns, CLONE_NEWNET);
  int set_errno = errno;
  close(ns);
  if (rc < 0) {
    fail(j, -set_errno, "enter the container's network namespace: %s", strerror(set_errno));
    return -1;
  }
  return 0;
}

static int connect_local(probe_job *j, double deadline, const char *where) {
  const berth_probe_request *r = &j->req;
  int fd = socket(r->ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(j, -errno, "socket: %s", strerror(errno));
    return -1;
  }
  struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
  struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)r->port)};
  v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  v6.sin6_addr = in6addr_loopback;
  int rc = r->ipv6 ? connect(fd, (struct sockaddr *)&v6, sizeof(v6)) : connect(fd, (struct sockaddr *)&v4, sizeof(v4));
  if (rc < 0 && errno == EINPROGRESS) {
    rc = wait_fd(fd, POLLOUT, deadline);
    if (rc == 0) {
      int soerr = 0;
      socklen_t sl = sizeof(soerr);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
      if (soerr) {
        errno = soerr;
        rc = -1;
      }
    } else {
      errno = -rc;
      rc = -1;
    }
  }
  if (rc < 0) {
    int e = errno;
    fail(j, -e, "connection to %s failed: %s", where, e == ETIMEDOUT ? "timed out" : strerror(e));
    close(fd);
    return -1;
  }
  return fd;
}

static void http_exchange(probe_job *j, int fd, double deadline, const char *where) {
  char req[BERTH_PROBE_MAX_READ + 256];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: berth-health-check\r\nAccept: */*\r\n"
                   "Connection: close\r\n\r\n",
                   j->path, where);
  size_t sent = 0, len = n > 0 && (size_t)n < sizeof(req) ? (size_t)n : 0;
  while (sent < len) {
    ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    int rc = w < 0 && errno == EAGAIN ? wait_fd(fd, POLLOUT, deadline) : -errno;
    if (rc < 0) {
      fail(j, rc, "sending the request failed: %s", rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
      return;
    }
  }
  /* Only the status line matters, and only its first bytes are read. */
  char buf[BERTH_PROBE_MAX_READ];
  size_t got = 0;
  for (;;) {
    int status = 0;
    int parsed = berth_http_status_parse(buf, got, &status);
    if (parsed == 1) {
      j->result.http_status = status;
      j->result.rc = 0;
      return;
    }
    if (parsed < 0 || got == sizeof(buf)) {
      fail(j, -EPROTO, "%s", "the answer is not HTTP");
      return;
    }
    ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if (r == 0) {
      fail(j, -EPROTO, "%s", "the connection closed before a status line came");
      return;
    }
    if (errno == EINTR) continue;
    int rc = errno == EAGAIN ? wait_fd(fd, POLLIN, deadline) : -errno;
    if (rc < 0) {
      fail(j, rc, "reading the answer failed: %s", rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
      return;
    }
  }
}

static void run_probe(probe_job *j) {
  double deadline = mono_now() + j->req.timeout;
  char where[64];
  if (j->req.ipv6)
    snprintf(where, sizeof(where), "[::1]:%d", j->req.port);
  else
    snprintf(where, sizeof(where), "127.0.0.1:%d", j->req.port);
  if (enter_netns(j) < 0) return;
  int fd = connect_local(j, deadline, where);
  if (fd < 0) return;
  j->result.rc = 0;
  if (j->req.http) http_exchange(j, fd, deadline, where);
  close(fd);
}

static void *probe_thread(void *arg) {
  probe_job *j = arg;
  run_probe(j);
  berth_probe_hub *hub = j->hub;
  pthread_mutex_lock(&hub->lock);
  hub->threads--;
  if (hub->closed) {
    job_free(j);
  } else {
    j->next = NULL;
    if (hub->done_tail)
      hub->done_tail->next = j;
    else
      hub->done = j;
    hub->done_tail = j;
    uv_async_send(&hub->async);
  }
  hub_unref_unlock(hub);
  return NULL;
}

int berth_probe_start(berth_probe_hub *hub, const berth_probe_request *req, berth_error *err) {
  pthread_mutex_lock(&hub->lock);
  bool full = hub->threads >= BERTH_PROBE_MAX_THREADS;
  if (!full) {
    hub->threads++;
    hub->refs++;
  }
  pthread_mutex_unlock(&hub->lock);
  if (full) return berth_error_set(err, BERTH_EUNAVAIL, "%d health probes already running", BERTH_PROBE_MAX_THREADS);
  probe_job *j = berth_calloc(1, sizeof(*j));
  j->req = *req;
  j->proc_root = berth_strdup(req->proc_root ? req->proc_root : "/proc");
  j->path = berth_strdup(req->path ? req->path : "/");
  j->req.proc_root = j->proc_root;
  j->req.path = j->path;
  j->hub = hub;
  j->result.token = req->token;
  j->result.rc = -EIO;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  /* The thread starts with every signal blocked: berthd's handlers run
   * on the loop thread, never in a probe. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int rc = pthread_create(&t, &attr, probe_thread, j);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    job_free(j);
    pthread_mutex_lock(&hub->lock);
    hub->threads--;
    hub_unref_unlock(hub);
    return berth_error_set(err, BERTH_EUNAVAIL, "start a health probe thread: %s", strerror(rc));
  }
  return 0;
}
