#include "containerizer/json_get.h"

#include <string.h>

#include "containerizer/spec.h"

#define MAX_ARRAY BERTH_SPEC_MAX_ARRAY
#define MAX_STRING 65536

/* Field readers: each names the field in its error. */

int berth_json_get_string(json_t *obj, const char *key, const char *field, bool required, const char **out,
                          berth_error *err) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (required) return berth_error_set(err, BERTH_EINVAL, "%s: required", field);
    return 0;
  }
  if (!json_is_string(v)) return berth_error_set(err, BERTH_EINVAL, "%s: must be a string", field);
  if (json_string_length(v) > MAX_STRING)
    return berth_error_set(err, BERTH_EINVAL, "%s: longer than %d bytes", field, MAX_STRING);
  if (strlen(json_string_value(v)) != json_string_length(v))
    return berth_error_set(err, BERTH_EINVAL, "%s: must not contain NUL", field);
  *out = json_string_value(v);
  return 0;
}

int berth_json_get_bool(json_t *obj, const char *key, const char *field, bool *out, berth_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return berth_error_set(err, BERTH_EINVAL, "%s: must be true or false", field);
  *out = json_is_true(v);
  return 0;
}

int berth_json_get_object(json_t *obj, const char *key, const char *field, json_t **out, berth_error *err) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_object(v)) return berth_error_set(err, BERTH_EINVAL, "%s: must be an object", field);
  *out = v;
  return 0;
}

int berth_json_get_array(json_t *obj, const char *key, const char *field, json_t **out, berth_error *err) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_array(v)) return berth_error_set(err, BERTH_EINVAL, "%s: must be an array", field);
  if (json_array_size(v) > MAX_ARRAY)
    return berth_error_set(err, BERTH_EINVAL, "%s: more than %d entries", field, MAX_ARRAY);
  *out = v;
  return 0;
}
