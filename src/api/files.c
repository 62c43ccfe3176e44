#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "client/base64.h"
#include "containerizer/sandbox.h"
#include "containerizer/spec.h"
#include "util/alloc.h"
#include "util/safefs.h"
#include "util/text.h"

/* Mesos's files API pages through a file; one page is capped so a reader
 * cannot make berthd build a huge answer: at most MAX_READ_LENGTH bytes are
 * read, and in text encoding the JSON-escaped data (a control byte takes
 * six) is cut at a character boundary to MAX_READ_REPLY bytes. */
#define MAX_READ_LENGTH (4u * 1024u * 1024u)
#define MAX_READ_REPLY (4u * 1024u * 1024u)
/* /files/browse pages a directory: `limit` entries (default and maximum
 * BROWSE_MAX) from `offset` (in readdir order, stable while the directory
 * is unchanged).  One entry costs at most the requested path plus ~2 kB
 * (a 255-byte name escaped, and its base64), so a page stays a few MB. */
#define BROWSE_MAX 1000

int berth_files_open(const char *work_dir, const char *path, int *out_fd, berth_error *err) {
  static const char prefix[] = "/sandboxes/";
  if (!path || strncmp(path, prefix, sizeof(prefix) - 1) != 0)
    return berth_error_set(err, BERTH_EINVAL, "path: must start with /sandboxes/<container id>");
  const char *id_start = path + sizeof(prefix) - 1;
  const char *slash = strchr(id_start, '/');
  size_t id_len = slash ? (size_t)(slash - id_start) : strlen(id_start);
  char id[BERTH_ID_MAX + 1];
  if (id_len == 0 || id_len > BERTH_ID_MAX) return berth_error_set(err, BERTH_EINVAL, "path: bad container id");
  memcpy(id, id_start, id_len);
  id[id_len] = '\0';
  if (!berth_container_id_valid(id)) return berth_error_set(err, BERTH_EINVAL, "path: bad container id");
  const char *rel = slash ? slash + 1 : "";
  while (*rel == '/') rel++; /* "/sandboxes/<id>//stdout" names stdout */
  cleanup_close int dfd = berth_sandbox_open(work_dir, id, err);
  if (dfd < 0) return berth_error_set(err, BERTH_ENOENT, "no such container: %s", id);
  /* Resolved beneath the sandbox, no symlink followed, and nothing but a
   * regular file or a directory is ever opened (a FIFO or device node the
   * task planted is refused from its O_PATH pin). */
  int fd = berth_safefs_open(dfd, rel, O_RDONLY, err);
  if (fd < 0) return berth_error_prefix(err, "path");
  *out_fd = fd;
  return 0;
}

/* The path of a files call: `path`, or `path_base64`, its exact bytes in
 * base64, for names that are not UTF-8 (a query value must be text). */
static char *query_path(berth_http_request *req, berth_error *err) {
  const char *b64 = berth_http_query(req, "path_base64");
  if (!b64) {
    const char *path = berth_http_query(req, "path");
    return path ? berth_strdup(path) : NULL;
  }
  unsigned char *raw = NULL;
  size_t len = 0;
  if (berth_base64_decode(b64, strlen(b64), &raw, &len, err) < 0) {
    berth_error_prefix(err, "path_base64");
    err->code = BERTH_EINVAL; /* the caller's input, not an I/O failure */
    return NULL;
  }
  if (memchr(raw, '\0', len)) {
    free(raw);
    berth_error_set(err, BERTH_EINVAL, "path_base64: holds a NUL byte");
    return NULL;
  }
  return (char *)raw;
}

static int parse_long(const char *s, long long def, long long *out) {
  if (!s) {
    *out = def;
    return 0;
  }
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

/* Bytes jansson writes for one byte of UTF-8 text: a control character
 * becomes \uXXXX (or a two-byte escape such as \n), '"' and '\\' two. */
static size_t escaped_size(unsigned char b) {
  if (b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t') return 2;
  return b < 0x20 ? 6 : 1;
}

/* The longest prefix of s[0..n) whose JSON form fits in cap, ending at a
 * character boundary. */
static size_t escaped_prefix(const char *s, size_t n, size_t cap) {
  size_t cost = 0, i = 0;
  for (; i < n && cost + escaped_size((unsigned char)s[i]) <= cap; i++) cost += escaped_size((unsigned char)s[i]);
  while (i < n && i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) i--;
  return i;
}

void berth_api_files_read(berth_api *api, berth_http_request *req) {
  berth_error err = {0};
  cleanup_close int fd = -1;
  long long offset, length;
  const char *encoding = berth_http_query(req, "encoding");
  cleanup_free char *path = query_path(req, &err);
  if ((!path && err.msg[0]) || berth_files_open(api->work_dir, path, &fd, &err) < 0) {
    berth_http_respond_error(req, berth_code_http_status(err.code), err.msg);
    return;
  }
  if (parse_long(berth_http_query(req, "offset"), 0, &offset) < 0 || offset < -1 ||
      parse_long(berth_http_query(req, "length"), MAX_READ_LENGTH, &length) < 0 || length < 0) {
    berth_http_respond_error(req, 400, "offset and length must be integers (offset >= -1, length >= 0)");
    return;
  }
  if (encoding && strcmp(encoding, "base64") && strcmp(encoding, "text")) {
    berth_http_respond_error(req, 400, "encoding: must be base64 or text");
    return;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    berth_http_respond_error(req, 400, "path: not a regular file");
    return;
  }
  if (offset == -1) {
    berth_http_respond_json(req, 200, json_pack("{s:s,s:I}", "data", "", "offset", (json_int_t)st.st_size));
    return;
  }
  if (length > MAX_READ_LENGTH) length = MAX_READ_LENGTH;
  /* At or past the end (offset up to 2^63-1): an empty page, as Mesos
   * answers, and no offset + length overflow reaches pread. */
  if (offset >= (long long)st.st_size)
    length = 0;
  else if (length > (long long)st.st_size - offset)
    length = (long long)st.st_size - offset;
  cleanup_free char *buf = berth_malloc((size_t)length + 1);
  ssize_t got = length > 0 ? pread(fd, buf, (size_t)length, (off_t)offset) : 0;
  if (got < 0) {
    berth_http_respond_error(req, 500, "read failed");
    return;
  }
  cleanup_free char *data = NULL;
  size_t data_len;
  if (encoding && !strcmp(encoding, "base64")) {
    data = berth_base64_encode((unsigned char *)buf, (size_t)got);
    data_len = strlen(data);
  } else {
    data = berth_utf8_sanitize(buf, (size_t)got, &data_len);
    data_len = escaped_prefix(data, data_len, MAX_READ_REPLY);
  }
  berth_http_respond_json(req, 200, json_pack("{s:s%,s:I}", "data", data, data_len, "offset", (json_int_t)offset));
}

/* One listing entry.  `path` is valid UTF-8 (a byte that is not becomes
 * U+FFFD); when the path is not valid UTF-8, `path_base64` carries its
 * exact bytes, which /files/read and /files/browse take back as
 * `path_base64`: no name can hide, and each can be read. */
static json_t *browse_entry(const char *dir, const char *name, const struct stat *st) {
  cleanup_free char *raw = berth_asprintf("%s/%s", dir, name);
  size_t len = strlen(raw), clean_len;
  cleanup_free char *clean = berth_utf8_sanitize(raw, len, &clean_len);
  json_t *e = json_pack("{s:s%,s:I,s:i,s:I,s:b}", "path", clean, clean_len, "size", (json_int_t)st->st_size, "mode",
                        (int)st->st_mode, "mtime", (json_int_t)st->st_mtime, "is_dir", S_ISDIR(st->st_mode));
  if (!e) return NULL;
  if (clean_len != len || memcmp(clean, raw, len) != 0) {
    cleanup_free char *b64 = berth_base64_encode((const unsigned char *)raw, len);
    json_object_set_new(e, "path_base64", json_string(b64));
  }
  return e;
}

void berth_api_files_browse(berth_api *api, berth_http_request *req) {
  berth_error err = {0};
  int fd = -1;
  long long offset, limit;
  if (parse_long(berth_http_query(req, "offset"), 0, &offset) < 0 || offset < 0 ||
      parse_long(berth_http_query(req, "limit"), BROWSE_MAX, &limit) < 0 || limit < 0) {
    berth_http_respond_error(req, 400, "offset and limit must be integers >= 0");
    return;
  }
  if (limit > BROWSE_MAX) limit = BROWSE_MAX;
  cleanup_free char *asked = query_path(req, &err);
  if ((!asked && err.msg[0]) || berth_files_open(api->work_dir, asked, &fd, &err) < 0) {
    berth_http_respond_error(req, berth_code_http_status(err.code), err.msg);
    return;
  }
  DIR *dir = fdopendir(fd); /* owns fd from here on success */
  if (!dir) close(fd);
  if (!dir) {
    berth_http_respond_error(req, 404, "path: not a directory");
    return;
  }
  size_t asked_len = strlen(asked);
  while (asked_len > 1 && asked[asked_len - 1] == '/') asked[--asked_len] = '\0';
  json_t *list = json_array();
  struct dirent *e;
  long long index = 0;
  while ((long long)json_array_size(list) < limit && (e = readdir(dir))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    /* An entry that vanished keeps its place, so pages do not shift. */
    if (index++ < offset) continue;
    struct stat st;
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) memset(&st, 0, sizeof(st));
    json_t *entry = browse_entry(asked, e->d_name, &st);
    if (entry) json_array_append_new(list, entry);
  }
  closedir(dir);
  berth_http_respond_json(req, 200, list);
}
