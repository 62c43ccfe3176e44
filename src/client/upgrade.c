#include "client/upgrade.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/httphead.h"

/* An error answer's body is berthd's one line; more is not read. */
#define ERROR_BODY_MAX 65536

int berth_upgrade_resolve(const char *addr_text, const char *token_file, berth_addr *addr, char **token,
                          berth_error *err) {
  *token = NULL;
  const char *text = addr_text ? addr_text : getenv("BERTH_ADDR");
  if (!text || !*text) text = BERTH_DEFAULT_ADDR;
  int rc = berth_addr_parse(text, addr, err);
  if (rc < 0) return rc;
  if (addr->kind == BERTH_ADDR_TCP && token_file)
    rc = berth_token_read_file(token_file, token, err);
  else if (addr->kind == BERTH_ADDR_TCP && getenv("BERTH_TOKEN"))
    *token = berth_strdup(getenv("BERTH_TOKEN"));
  if (rc < 0) berth_addr_clear(addr);
  return rc;
}

int berth_client_open(const char *addr_text, const char *token_file, berth_client **out, berth_error *err) {
  berth_addr addr;
  cleanup_free char *token = NULL;
  int rc = berth_upgrade_resolve(addr_text, token_file, &addr, &token, err);
  if (rc < 0) return rc;
  rc = berth_client_new(&addr, token, out, err);
  berth_addr_clear(&addr);
  return rc;
}

int berth_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int connect_addr(const berth_addr *addr, berth_error *err) {
  if (addr->kind == BERTH_ADDR_UNIX) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(addr->path) >= sizeof(sa.sun_path))
      return berth_error_set(err, BERTH_EINVAL, "socket path '%s' is too long", addr->path);
    strcpy(sa.sun_path, addr->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return berth_error_errno(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
      int e = errno;
      close(fd);
      return berth_error_errno(err, e, "cannot connect to berthd at unix:%s", addr->path);
    }
    return fd;
  }
  char port[16];
  snprintf(port, sizeof(port), "%d", addr->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(addr->host, port, &hints, &res);
  if (gai != 0) return berth_error_set(err, BERTH_EUNAVAIL, "cannot resolve '%s': %s", addr->host, gai_strerror(gai));
  int fd = -1, e = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    e = errno;
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return berth_error_errno(err, e, "cannot connect to berthd at tcp:%s:%d", addr->host, addr->port);
  return fd;
}

int berth_upgrade_call(const berth_addr *addr, const char *token, json_t *request, int *out_fd, char **extra,
                       size_t *extra_len, berth_error *err) {
  *out_fd = -1;
  *extra = NULL;
  *extra_len = 0;
  cleanup_free char *body = json_dumps(request, JSON_COMPACT);
  if (!body) return berth_error_set(err, BERTH_EINVAL, "request is not valid JSON text");
  cleanup_free char *auth = token ? berth_asprintf("Authorization: Bearer %s\r\n", token) : berth_strdup("");
  cleanup_free char *head = berth_asprintf(
      "POST /api/v1 HTTP/1.1\r\n"
      "Host: berthd\r\n"
      "User-Agent: berth\r\n"
      "%s"
      "Content-Type: application/json\r\n"
      "Connection: Upgrade\r\n"
      "Upgrade: tcp\r\n"
      "Content-Length: %zu\r\n\r\n",
      auth, strlen(body));
  int fd = connect_addr(addr, err);
  if (fd < 0) return fd;
  if (berth_write_all(fd, head, strlen(head)) < 0 || berth_write_all(fd, body, strlen(body)) < 0) {
    int e = errno;
    close(fd);
    return berth_error_errno(err, e, "send to berthd");
  }
  berth_http_head h;
  berth_http_head_init(&h);
  char buf[4096];
  char *rest = NULL;
  size_t rest_len = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : 0;
      free(rest);
      close(fd);
      if (!h.done) {
        if (e) return berth_error_errno(err, e, "read from berthd");
        return berth_error_set(err, BERTH_EUNAVAIL, "berthd closed the connection without an answer");
      }
      break; /* an error answer that ended with the connection */
    }
    size_t used = 0, len = (size_t)n;
    if (!h.done) {
      if (berth_http_head_feed(&h, buf, len, &used, err) < 0) {
        free(rest);
        close(fd);
        return err->code;
      }
      if (!h.done) continue;
      if (h.status == 101) {
        if (len > used) {
          *extra = berth_malloc(len - used);
          memcpy(*extra, buf + used, len - used);
          *extra_len = len - used;
        }
        *out_fd = fd;
        return 0;
      }
    }
    size_t take = len - used;
    if (rest_len + take > ERROR_BODY_MAX) take = ERROR_BODY_MAX - rest_len;
    rest = berth_realloc(rest, rest_len + take + 1);
    memcpy(rest + rest_len, buf + used, take);
    rest_len += take;
    rest[rest_len] = '\0';
    if (rest_len >= ERROR_BODY_MAX || (h.content_length >= 0 && (long long)rest_len >= h.content_length)) {
      close(fd);
      break;
    }
  }
  berth_response resp = {.status = h.status, .body = rest ? rest : berth_strdup(""), .len = rest_len};
  int rc = berth_response_error(&resp, err);
  if (rc == 0) rc = berth_error_set(err, BERTH_EIO, "berthd answered %d instead of switching protocols", h.status);
  berth_response_clear(&resp);
  return rc;
}
