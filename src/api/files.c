#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "containerizer/spec.h"
#include "util/alloc.h"
#include "util/text.h"

/* Mesos's files API pages through a file; one page is capped so a reader
 * cannot make berthd build a huge answer. */
#define MAX_READ_LENGTH (4u * 1024u * 1024u)

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
  /* Refuse '..' outright, before touching the disk. */
  for (const char *p = rel; *p;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') return berth_error_set(err, BERTH_EINVAL, "path: '..' is not allowed");
    p += n + (e ? 1 : 0);
  }
  cleanup_free char *sandbox = berth_asprintf("%s/sandboxes/%s", work_dir, id);
  int fd = open(sandbox, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return berth_error_set(err, BERTH_ENOENT, "path: no sandbox for '%s'", id);
  cleanup_free char *copy = berth_strdup(rel);
  char *save = NULL;
  for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
    if (!strcmp(comp, ".")) continue;
    int next = openat(fd, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int saved = errno;
    close(fd);
    if (next < 0) {
      if (saved == ELOOP) return berth_error_set(err, BERTH_ENOENT, "path: '%s' goes through a symlink", path);
      return berth_error_set(err, BERTH_ENOENT, "path: '%s' not found", path);
    }
    fd = next;
  }
  *out_fd = fd;
  return 0;
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

void berth_api_files_read(berth_api *api, berth_http_request *req) {
  berth_error err = {0};
  cleanup_close int fd = -1;
  long long offset, length;
  const char *encoding = berth_http_query(req, "encoding");
  if (berth_files_open(api->work_dir, berth_http_query(req, "path"), &fd, &err) < 0) {
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
  }
  berth_http_respond_json(req, 200,
                          json_pack("{s:s%,s:I}", "data", data, data_len, "offset", (json_int_t)offset));
}

void berth_api_files_browse(berth_api *api, berth_http_request *req) {
  berth_error err = {0};
  int fd = -1;
  if (berth_files_open(api->work_dir, berth_http_query(req, "path"), &fd, &err) < 0) {
    berth_http_respond_error(req, berth_code_http_status(err.code), err.msg);
    return;
  }
  DIR *dir = fdopendir(fd); /* owns fd from here on success */
  if (!dir) close(fd);
  if (!dir) {
    berth_http_respond_error(req, 404, "path: not a directory");
    return;
  }
  json_t *list = json_array();
  const char *shown = berth_http_query(req, "path");
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    json_array_append_new(list, json_pack("{s:s++,s:I,s:i,s:I,s:b}", "path", shown, "/", e->d_name, "size",
                                          (json_int_t)st.st_size, "mode", (int)st.st_mode, "mtime",
                                          (json_int_t)st.st_mtime, "is_dir", S_ISDIR(st.st_mode)));
  }
  closedir(dir);
  berth_http_respond_json(req, 200, list);
}
