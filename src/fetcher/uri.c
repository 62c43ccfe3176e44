/* What a fetch URI names, checked before anything is fetched: the spec
 * validates launches with it, and the fuzz targets reach it without the
 * fetcher's curl, loop and archive code. */
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "fetcher/fetcher.h"
#include "util/alloc.h"

static bool has_prefix_ci(const char *s, const char *prefix) { return !strncasecmp(s, prefix, strlen(prefix)); }

int berth_fetch_uri_parse(const char *value, berth_uri_kind *kind, char **local_path, char **name, berth_error *err) {
  *local_path = *name = NULL;
  for (const unsigned char *p = (const unsigned char *)value; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return berth_error_set(err, BERTH_EINVAL, "'%.200s': control character in URI", value);
  const char *path;
  if (has_prefix_ci(value, "http://") || has_prefix_ci(value, "https://")) {
    *kind = BERTH_URI_HTTP;
    const char *authority = strstr(value, "://") + 3;
    size_t host_len = strcspn(authority, "/?#");
    if (host_len == 0) return berth_error_set(err, BERTH_EINVAL, "'%.200s': no host in URI", value);
    path = authority + host_len;
    size_t path_len = strcspn(path, "?#");
    const char *end = path + path_len;
    const char *slash = end;
    while (slash > path && slash[-1] != '/') slash--;
    *name = berth_strndup(slash, (size_t)(end - slash));
    return 0;
  }
  if (has_prefix_ci(value, "file://")) {
    path = value + 7;
    if (path[0] != '/')
      return berth_error_set(err, BERTH_EINVAL, "'%.200s': a file URI needs an absolute path (file:///...)", value);
  } else if (value[0] == '/') {
    path = value;
  } else {
    return berth_error_set(err, BERTH_EINVAL, "'%.200s': not an http://, https://, file:// URI or absolute path",
                           value);
  }
  *kind = BERTH_URI_LOCAL;
  *local_path = berth_strdup(path);
  const char *slash = strrchr(path, '/');
  *name = berth_strdup(slash + 1);
  return 0;
}

static int output_name(const berth_fetch_uri *uri, const char *from_uri, berth_error *err) {
  const char *name = uri->output_file ? uri->output_file : from_uri;
  const char *what = uri->output_file ? "output_file" : "the file name from the URI";
  if (!*name)
    return berth_error_set(err, BERTH_EINVAL, "'%.200s': no file name in the URI; give output_file", uri->value);
  if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return berth_error_set(err, BERTH_EINVAL, "'%.200s': %s '%.200s' must be a plain file name", uri->value, what,
                           name);
  if (strlen(name) > NAME_MAX) return berth_error_set(err, BERTH_EINVAL, "'%.200s': %s is too long", uri->value, what);
  if (!strcmp(name, "stdout") || !strcmp(name, "stderr") || !strcmp(name, "fetch.log"))
    return berth_error_set(err, BERTH_EINVAL, "'%.200s': '%s' is the sandbox's own file", uri->value, name);
  return 0;
}

int berth_fetch_uri_check(const berth_fetch_uri *uri, berth_error *err) {
  berth_uri_kind kind;
  cleanup_free char *path = NULL, *name = NULL;
  if (berth_fetch_uri_parse(uri->value, &kind, &path, &name, err) < 0) return err->code;
  return output_name(uri, name, err);
}
