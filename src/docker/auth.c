#include "docker/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"

#define MAX_CONFIG_BYTES (1024 * 1024)

static const char *const hub_aliases[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};

static bool is_hub(const char *host) {
  for (size_t i = 0; i < sizeof(hub_aliases) / sizeof(hub_aliases[0]); i++)
    if (!strcmp(host, hub_aliases[i])) return true;
  return false;
}

/* Docker's ConvertToHostname: drop the scheme, keep up to the first '/'. */
static char *key_host(const char *key) {
  if (!strncmp(key, "http://", 7))
    key += 7;
  else if (!strncmp(key, "https://", 8))
    key += 8;
  return berth_strndup(key, strcspn(key, "/"));
}

static int b64_value(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Standard or URL alphabet, padding optional; NULL when malformed. */
static char *b64_decode(const char *in) {
  size_t n = strlen(in);
  char *out = berth_malloc(n / 4 * 3 + 4);
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '=') break;
    int v = b64_value((unsigned char)in[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[o] = '\0';
  if (strlen(out) != o) { /* a NUL inside is no user:password */
    free(out);
    return NULL;
  }
  return out;
}

/* base64url with padding, as docker's client encodes X-Registry-Auth. */
static char *b64url_encode(const char *in, size_t n) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *out = berth_malloc((n + 2) / 3 * 4 + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)in[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

void berth_docker_auth_free(berth_docker_auth *auth) {
  for (size_t i = 0; i < auth->n; i++) {
    free(auth->creds[i].host);
    free(auth->creds[i].server);
    free(auth->creds[i].username);
    if (auth->creds[i].password) explicit_bzero(auth->creds[i].password, strlen(auth->creds[i].password));
    free(auth->creds[i].password);
  }
  free(auth->creds);
  auth->creds = NULL;
  auth->n = 0;
}

int berth_docker_auth_parse(const char *text, size_t len, berth_docker_auth *auth, berth_error *err) {
  memset(auth, 0, sizeof(*auth));
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  if (!root || !json_is_object(root)) {
    json_decref(root);
    return berth_error_set(err, BERTH_EINVAL, "not a JSON object (%s)", root ? "" : jerr.text);
  }
  json_t *auths = json_object_get(root, "auths");
  if (auths && !json_is_object(auths)) {
    json_decref(root);
    return berth_error_set(err, BERTH_EINVAL, "'auths' must be an object");
  }
  auth->creds = berth_calloc(json_object_size(auths) + 1, sizeof(*auth->creds));
  const char *key;
  json_t *entry;
  json_object_foreach(auths, key, entry) {
    const char *user = json_string_value(json_object_get(entry, "username"));
    const char *pass = json_string_value(json_object_get(entry, "password"));
    const char *b64 = json_string_value(json_object_get(entry, "auth"));
    cleanup_free char *decoded = NULL;
    if (b64 && *b64) {
      decoded = b64_decode(b64);
      char *colon = decoded ? strchr(decoded, ':') : NULL;
      if (!colon) {
        /* the message first: key belongs to root */
        berth_error_set(err, BERTH_EINVAL, "auths['%.200s'].auth: not base64 of user:password", key);
        json_decref(root);
        berth_docker_auth_free(auth);
        return err->code;
      }
      *colon = '\0';
      user = decoded;
      pass = colon + 1;
    }
    if (!user || !pass) continue; /* identity tokens and helpers: not supported, nothing to send */
    berth_registry_cred *c = &auth->creds[auth->n++];
    c->host = key_host(key);
    c->server = berth_strdup(key);
    c->username = berth_strdup(user);
    c->password = berth_strdup(pass);
  }
  json_decref(root);
  return 0;
}

int berth_docker_auth_load(const char *path, berth_docker_auth *auth, berth_error *err) {
  memset(auth, 0, sizeof(*auth));
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return berth_error_errno(err, errno, "--docker_config: open '%s'", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return berth_error_set(err, BERTH_EINVAL, "--docker_config: '%s' is not a regular file", path);
  if (st.st_size > MAX_CONFIG_BYTES)
    return berth_error_set(err, BERTH_EINVAL, "--docker_config: '%s' is larger than %d bytes", path, MAX_CONFIG_BYTES);
  cleanup_free char *buf = berth_malloc((size_t)st.st_size + 1);
  size_t len = 0;
  while (len < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return berth_error_errno(err, errno, "--docker_config: read '%s'", path);
    if (r == 0) break;
    len += (size_t)r;
  }
  int rc = berth_docker_auth_parse(buf, len, auth, err);
  explicit_bzero(buf, len);
  if (rc < 0) return berth_error_prefix(err, "--docker_config: '%s'", path);
  return 0;
}

char *berth_docker_registry_of(const char *image) {
  size_t first = strcspn(image, "/");
  if (image[first] == '/') {
    cleanup_free char *head = berth_strndup(image, first);
    if (strchr(head, '.') || strchr(head, ':') || !strcmp(head, "localhost")) return berth_strdup(head);
  }
  return berth_strdup("docker.io");
}

const berth_registry_cred *berth_docker_auth_find(const berth_docker_auth *auth, const char *image) {
  if (!auth) return NULL;
  cleanup_free char *registry = berth_docker_registry_of(image);
  bool hub = is_hub(registry);
  for (size_t i = 0; i < auth->n; i++) {
    const char *host = auth->creds[i].host;
    if (!strcmp(host, registry) || (hub && is_hub(host))) return &auth->creds[i];
  }
  return NULL;
}

char *berth_docker_auth_header(const berth_docker_auth *auth, const char *image) {
  const berth_registry_cred *c = berth_docker_auth_find(auth, image);
  if (!c) return NULL;
  json_t *j = json_pack("{s:s,s:s,s:s}", "username", c->username, "password", c->password, "serveraddress", c->server);
  if (!j) return NULL; /* not valid UTF-8: nothing docker could use */
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!text) return NULL;
  char *out = b64url_encode(text, strlen(text));
  explicit_bzero(text, strlen(text));
  free(text);
  return out;
}
