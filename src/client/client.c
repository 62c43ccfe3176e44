#include "client/client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/alloc.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

/* A reply larger than this is not something berthd sends (file reads are
 * chunked); refusing it bounds the memory a confused peer can make us use. */
#define MAX_REPLY_BYTES (64u * 1024 * 1024)
#define MAX_TOKEN_BYTES 4096

struct berth_client {
  CURL *curl;
  char *base_url;  /* "http://localhost" or "http://HOST:PORT" */
  char *unix_path; /* NULL for tcp */
  char *auth;      /* "Authorization: Bearer ..." or NULL */
  char *addr_text; /* for messages */
  volatile sig_atomic_t *cancel;
  volatile sig_atomic_t *sent;
  char errbuf[CURL_ERROR_SIZE];
};

struct body {
  char *data;
  size_t len;
  size_t cap;
};

/* ---- addresses ---- */

static int parse_port(const char *text, const char *whole, int *port, berth_error *err) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (!isdigit((unsigned char)*text) || *end != '\0' || errno != 0 || value < 1 || value > 65535)
    return berth_error_set(err, BERTH_EINVAL, "invalid port '%s' in address '%s'", text, whole);
  *port = (int)value;
  return 0;
}

static int parse_tcp(const char *rest, const char *whole, berth_addr *out, berth_error *err) {
  const char *colon;
  const char *host = rest;
  size_t host_len;
  if (*rest == '[') { /* "[::1]:5051": IPv6 literals carry colons */
    const char *close = strchr(rest, ']');
    if (!close || close[1] != ':')
      return berth_error_set(err, BERTH_EINVAL, "invalid address '%s': expected tcp:[IPV6]:PORT", whole);
    host = rest + 1;
    host_len = (size_t)(close - host);
    colon = close + 1;
  } else {
    colon = strrchr(rest, ':');
    if (!colon) return berth_error_set(err, BERTH_EINVAL, "invalid address '%s': expected tcp:HOST:PORT", whole);
    host_len = (size_t)(colon - rest);
    if (memchr(rest, ':', host_len))
      return berth_error_set(err, BERTH_EINVAL, "invalid address '%s': write IPv6 hosts in brackets, tcp:[::1]:PORT",
                             whole);
  }
  if (host_len == 0) return berth_error_set(err, BERTH_EINVAL, "invalid address '%s': empty host", whole);
  int ret = parse_port(colon + 1, whole, &out->port, err);
  if (ret < 0) return ret;
  out->kind = BERTH_ADDR_TCP;
  out->host = berth_strndup(host, host_len);
  return 0;
}

/* Length of a URI-like scheme ("tcp", "http") before a ':' or 0. */
static size_t scheme_len(const char *text) {
  size_t i = 0;
  if (!isalpha((unsigned char)text[0])) return 0;
  while (isalnum((unsigned char)text[i]) || text[i] == '+' || text[i] == '-' || text[i] == '.') i++;
  return text[i] == ':' ? i : 0;
}

int berth_addr_parse(const char *text, berth_addr *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  if (!text || !*text) return berth_error_set(err, BERTH_EINVAL, "empty address");
  if (strncmp(text, "tcp:", 4) == 0) return parse_tcp(text + 4, text, out, err);
  const char *path = text;
  if (strncmp(text, "unix:", 5) == 0) {
    path = text + 5;
  } else if (scheme_len(text) > 0) {
    /* "localhost:5051" or "http://..." is almost surely not a socket path. */
    return berth_error_set(err, BERTH_EINVAL, "invalid address '%s': use unix:PATH, tcp:HOST:PORT or a socket path",
                           text);
  }
  if (!*path) return berth_error_set(err, BERTH_EINVAL, "invalid address '%s': empty path", text);
  out->kind = BERTH_ADDR_UNIX;
  out->path = berth_strdup(path);
  return 0;
}

void berth_addr_clear(berth_addr *addr) {
  free(addr->path);
  free(addr->host);
  memset(addr, 0, sizeof(*addr));
}

/* ---- token ---- */

static int read_small_file(const char *path, char *buf, size_t cap, size_t *len, berth_error *err) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return berth_error_errno(err, errno, "open token file '%s'", path);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return berth_error_errno(err, errno, "read token file '%s'", path);
    if (n == 0) break;
    got += (size_t)n;
    if (got == cap)
      return berth_error_set(err, BERTH_EINVAL, "token file '%s' is larger than %d bytes", path, MAX_TOKEN_BYTES);
  }
  *len = got;
  return 0;
}

int berth_token_read_file(const char *path, char **token, berth_error *err) {
  char buf[MAX_TOKEN_BYTES + 1];
  size_t len = 0;
  int ret = read_small_file(path, buf, sizeof(buf), &len, err);
  if (ret < 0) return ret;
  size_t start = 0;
  while (start < len && isspace((unsigned char)buf[start])) start++;
  while (len > start && isspace((unsigned char)buf[len - 1])) len--;
  if (len == start) return berth_error_set(err, BERTH_EINVAL, "token file '%s' is empty", path);
  for (size_t i = start; i < len; i++)
    if (iscntrl((unsigned char)buf[i]))
      return berth_error_set(err, BERTH_EINVAL, "token file '%s' holds control characters", path);
  *token = berth_strndup(buf + start, len - start);
  return 0;
}

/* ---- client ---- */

static int check_token(const char *token, berth_error *err) {
  for (const char *p = token; *p; p++)
    if (iscntrl((unsigned char)*p)) return berth_error_set(err, BERTH_EINVAL, "token holds control characters");
  return *token ? 0 : berth_error_set(err, BERTH_EINVAL, "empty token");
}

static void describe(berth_client *c, const berth_addr *addr) {
  if (addr->kind == BERTH_ADDR_UNIX) {
    c->addr_text = berth_asprintf("unix:%s", addr->path);
    c->base_url = berth_strdup("http://localhost");
    c->unix_path = berth_strdup(addr->path);
    return;
  }
  bool v6 = strchr(addr->host, ':') != NULL;
  c->addr_text = berth_asprintf("tcp:%s%s%s:%d", v6 ? "[" : "", addr->host, v6 ? "]" : "", addr->port);
  c->base_url = berth_asprintf("http://%s%s%s:%d", v6 ? "[" : "", addr->host, v6 ? "]" : "", addr->port);
}

int berth_client_new(const berth_addr *addr, const char *token, berth_client **out, berth_error *err) {
  if (addr->kind == BERTH_ADDR_TCP && !token)
    return berth_error_set(err, BERTH_EINVAL, "address tcp:%s:%d needs a token: use --token_file or BERTH_TOKEN",
                           addr->host, addr->port);
  /* Over a unix socket berthd relies on the socket's permissions, so a
   * token set in the environment is simply not sent. */
  if (addr->kind == BERTH_ADDR_TCP) {
    int ret = check_token(token, err);
    if (ret < 0) return ret;
  }
  /* curl_global_init counts its callers; berth_client_free undoes it. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return berth_error_set(err, BERTH_EINTERNAL, "cannot initialise libcurl");
  CURL *curl = curl_easy_init();
  if (!curl) {
    curl_global_cleanup();
    return berth_error_set(err, BERTH_EINTERNAL, "cannot create a libcurl handle");
  }
  berth_client *c = berth_calloc(1, sizeof(*c));
  c->curl = curl;
  describe(c, addr);
  if (addr->kind == BERTH_ADDR_TCP) c->auth = berth_asprintf("Authorization: Bearer %s", token);
  *out = c;
  return 0;
}

void berth_client_free(berth_client *client) {
  if (!client) return;
  if (client->curl) {
    curl_easy_cleanup(client->curl);
    curl_global_cleanup();
  }
  free(client->base_url);
  free(client->unix_path);
  free(client->auth);
  free(client->addr_text);
  free(client);
}

const char *berth_client_addr_text(const berth_client *client) { return client->addr_text; }

void berth_client_set_cancel(berth_client *client, volatile sig_atomic_t *flag) { client->cancel = flag; }

void berth_client_set_sent_flag(berth_client *client, volatile sig_atomic_t *flag) { client->sent = flag; }

void berth_response_clear(berth_response *resp) {
  free(resp->body);
  memset(resp, 0, sizeof(*resp));
}

/* ---- one request ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *data) {
  struct body *b = data;
  size_t n = size * nmemb;
  if (n > MAX_REPLY_BYTES - b->len) return 0; /* makes curl fail with WRITE_ERROR */
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    b->data = berth_realloc(b->data, cap);
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

/* libcurl calls this about once a second even while idle, so a request
 * blocked on a long LAUNCH or WAIT notices a cancel in that time. */
#define UNUSED __attribute__((unused))
static int progress_cb(void *data, UNUSED curl_off_t dltotal, UNUSED curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  berth_client *c = data;
  if (c->sent && ultotal > 0 && ulnow >= ultotal) *c->sent = 1;
  return c->cancel && *c->cancel ? 1 : 0;
}

static struct curl_slist *build_headers(const berth_client *c, bool json_body) {
  struct curl_slist *list = NULL;
  /* berthd answers at once; "Expect: 100-continue" would only add a
   * round trip on bodies over 1 KiB. */
  list = curl_slist_append(list, "Expect:");
  list = curl_slist_append(list, "Accept: application/json");
  if (json_body) list = curl_slist_append(list, "Content-Type: application/json");
  if (c->auth) list = curl_slist_append(list, c->auth);
  return list;
}

static void setup(berth_client *c, const char *url, struct curl_slist *headers, long timeout_ms, struct body *b) {
  CURL *h = c->curl;
  /* Reset keeps the connection cache, so polling reuses one connection. */
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, url);
  if (c->unix_path) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, BERTH_CONNECT_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  /* Keepalive lets a WAIT with no timeout notice a vanished tcp peer. */
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
  if (c->cancel || c->sent) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
  }
  c->errbuf[0] = '\0';
}

static int transport_error(berth_client *c, CURLcode rc, long timeout_ms, berth_error *err) {
  const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
  long os_errno = 0;
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      /* curl's own text names "localhost port 80" for unix sockets; errno
       * ("No such file or directory", "Permission denied") says more. */
      curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
      return berth_error_set(err, BERTH_EUNAVAIL, "cannot connect to berthd at %s: %s", c->addr_text,
                             os_errno ? strerror((int)os_errno) : detail);
    case CURLE_OPERATION_TIMEDOUT:
      return berth_error_set(err, BERTH_EUNAVAIL, "berthd at %s did not answer within %ld s", c->addr_text,
                             timeout_ms / 1000);
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
      /* The connection closed under the request: berthd stopped or
       * restarted (a caller may retry, as `berth run` does). */
      return berth_error_set(err, BERTH_EUNAVAIL, "berthd at %s closed the connection: %s", c->addr_text, detail);
    case CURLE_ABORTED_BY_CALLBACK:
      return berth_error_set(err, BERTH_ECANCELED, "interrupted");
    case CURLE_WRITE_ERROR:
      return berth_error_set(err, BERTH_EIO, "reply from berthd at %s is larger than %u bytes", c->addr_text,
                             MAX_REPLY_BYTES);
    default:
      return berth_error_set(err, BERTH_EIO, "request to berthd at %s failed: %s", c->addr_text, detail);
  }
}

int berth_client_request(berth_client *client, const char *method, const char *path, const char *body, long timeout_ms,
                         berth_response *resp, berth_error *err) {
  memset(resp, 0, sizeof(*resp));
  cleanup_free char *url = berth_asprintf("%s%s", client->base_url, path);
  struct curl_slist *headers = build_headers(client, body != NULL);
  struct body b = {0};
  setup(client, url, headers, timeout_ms, &b);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(client->curl, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode rc = curl_easy_perform(client->curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    free(b.data);
    return transport_error(client, rc, timeout_ms, err);
  }
  curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &resp->status);
  resp->body = b.data ? b.data : berth_strdup("");
  resp->len = b.len;
  return 0;
}

/* ---- replies ---- */

static int status_code(long status) {
  switch (status) {
    case 404:
      return BERTH_ENOENT;
    case 409:
      return BERTH_ECONFLICT;
    case 413:
      return BERTH_ETOOBIG;
    case 503:
      return BERTH_EUNAVAIL;
    default:
      return status >= 400 && status < 500 ? BERTH_EINVAL : BERTH_EINTERNAL;
  }
}

int berth_response_error(const berth_response *resp, berth_error *err) {
  int code = status_code(resp->status);
  const char *text = resp->body ? resp->body : "";
  /* berthd's message is one line of text/plain; keep only that line so a
   * surprising body (an HTML error page from a proxy) cannot flood stderr. */
  while (isspace((unsigned char)*text)) text++;
  size_t len = strcspn(text, "\r\n");
  while (len > 0 && isspace((unsigned char)text[len - 1])) len--;
  if (len > 0) return berth_error_set(err, code, "%.*s", (int)len, text);
  if (resp->status == 401 || resp->status == 403)
    return berth_error_set(err, code, "berthd refused the token (HTTP %ld)", resp->status);
  return berth_error_set(err, code, "berthd replied HTTP %ld", resp->status);
}

static int parse_reply(const berth_response *resp, json_t **reply, berth_error *err) {
  if (resp->status < 200 || resp->status > 299) return berth_response_error(resp, err);
  if (resp->len == 0) {
    *reply = json_object();
    return 0;
  }
  json_error_t jerr;
  *reply = json_loadb(resp->body, resp->len, 0, &jerr);
  if (!*reply) return berth_error_set(err, BERTH_EIO, "invalid JSON from berthd: %s", jerr.text);
  return 0;
}

int berth_client_call(berth_client *client, json_t *request, long timeout_ms, long *status, json_t **reply,
                      berth_error *err) {
  cleanup_free char *body = json_dumps(request, JSON_COMPACT);
  if (!body) return berth_error_set(err, BERTH_EINTERNAL, "cannot encode request");
  cleanup_response berth_response resp = {0};
  int ret = berth_client_request(client, "POST", "/api/v1", body, timeout_ms, &resp, err);
  if (ret < 0) return ret;
  if (status) *status = resp.status;
  return parse_reply(&resp, reply, err);
}

int berth_client_get_json(berth_client *client, const char *path, long timeout_ms, json_t **reply, berth_error *err) {
  cleanup_response berth_response resp = {0};
  int ret = berth_client_request(client, "GET", path, NULL, timeout_ms, &resp, err);
  if (ret < 0) return ret;
  return parse_reply(&resp, reply, err);
}

/* ---- streamed replies ---- */

typedef struct stream_ctx {
  berth_client *client;
  berth_client_data_cb cb;
  void *data;
  struct body refusal; /* a non-2xx reply's body, for its message */
  int rc;
  berth_error *err;
} stream_ctx;

static size_t stream_write_cb(char *ptr, size_t size, size_t nmemb, void *arg) {
  stream_ctx *s = arg;
  size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo(s->client->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    /* One line of text is expected; a little more is kept, never all. */
    if (s->refusal.len + n > 4096) n = 4096 > s->refusal.len ? 4096 - s->refusal.len : 0;
    return n ? write_cb(ptr, 1, n, &s->refusal) : size * nmemb;
  }
  int rc = s->cb(ptr, n, s->data, s->err);
  if (rc < 0) {
    s->rc = rc;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  return n;
}

int berth_client_stream(berth_client *client, const char *path, const char *body, berth_client_data_cb cb, void *data,
                        berth_error *err) {
  cleanup_free char *url = berth_asprintf("%s%s", client->base_url, path);
  struct curl_slist *headers = build_headers(client, body != NULL);
  stream_ctx s = {.client = client, .cb = cb, .data = data, .err = err};
  struct body unused = {0};
  setup(client, url, headers, BERTH_NO_TIMEOUT, &unused);
  curl_easy_setopt(client->curl, CURLOPT_WRITEFUNCTION, stream_write_cb);
  curl_easy_setopt(client->curl, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, body ? body : "");
  curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
  CURLcode rc = curl_easy_perform(client->curl);
  curl_slist_free_all(headers);
  if (s.rc < 0) {
    free(s.refusal.data);
    return s.rc;
  }
  long status = 0;
  curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &status);
  /* A stream that berthd cut (a dropped reader) ends without its last
   * chunk: that is its end too, not a transport failure. */
  bool started = status >= 200 && status <= 299;
  if (rc != CURLE_OK && !(started && (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR))) {
    free(s.refusal.data);
    return transport_error(client, rc, BERTH_NO_TIMEOUT, err);
  }
  if (s.refusal.data || (status && (status < 200 || status > 299))) {
    berth_response resp = {.status = status, .body = s.refusal.data, .len = s.refusal.len};
    int ret = berth_response_error(&resp, err);
    berth_response_clear(&resp);
    return ret;
  }
  return 0;
}

/* ---- cleanup helpers ---- */

void berth_cleanup_json(json_t **json) {
  json_decref(*json);
  *json = NULL;
}

void berth_cleanup_client(berth_client **client) {
  berth_client_free(*client);
  *client = NULL;
}

void berth_cleanup_response(berth_response *resp) { berth_response_clear(resp); }
