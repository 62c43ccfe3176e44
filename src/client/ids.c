#include "client/ids.h"

#include <stdio.h>
#include <string.h>

static const char *id_of(json_t *c) {
  return json_string_value(json_object_get(json_object_get(c, "container_id"), "value"));
}

int berth_ids_resolve(json_t *containers, const char *text, json_t **out, berth_error *err) {
  size_t len = strlen(text);
  json_t *found = NULL;
  size_t matches = 0;
  char names[256] = "";
  size_t used = 0;
  size_t i;
  json_t *c;
  json_array_foreach(containers, i, c) {
    const char *id = id_of(c);
    if (!id) continue;
    if (strcmp(id, text) == 0) {
      *out = c;
      return 0;
    }
    /* An empty text would be a prefix of everything: it names nothing. */
    if (len == 0 || strncmp(id, text, len) != 0) continue;
    found = c;
    if (++matches <= 5 && used < sizeof(names))
      used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", matches > 1 ? ", " : "", id);
  }
  if (matches == 1) {
    *out = found;
    return 0;
  }
  if (matches == 0) return berth_error_set(err, BERTH_ENOENT, "no such container: %s", text);
  return berth_error_set(err, BERTH_EINVAL, "container id prefix '%s' is ambiguous: it matches %zu containers (%s%s)",
                         text, matches, names, matches > 5 ? ", ..." : "");
}

int berth_ids_resolve_id(json_t *containers, const char *text, const char **id, berth_error *err) {
  json_t *c = NULL;
  int ret = berth_ids_resolve(containers, text, &c, err);
  if (ret < 0) return ret;
  *id = id_of(c);
  return 0;
}
