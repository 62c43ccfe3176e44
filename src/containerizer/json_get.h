/* Field readers for the JSON of a request, shared by spec.c and
 * resources.c.  Each reads obj[key] (absent or null: *out stays empty and
 * 0 is returned unless required), checks its type and names the field in
 * its error.  Internal to the containerizer. */
#ifndef BERTH_CONTAINERIZER_JSON_GET_H
#define BERTH_CONTAINERIZER_JSON_GET_H

#include <jansson.h>
#include <stdbool.h>

#include "util/error.h"

/* A string without NUL, at most 65536 bytes. */
int berth_json_get_string(json_t *obj, const char *key, const char *field, bool required, const char **out,
                          berth_error *err);
/* true or false; *out is left alone when absent. */
int berth_json_get_bool(json_t *obj, const char *key, const char *field, bool *out, berth_error *err);
int berth_json_get_object(json_t *obj, const char *key, const char *field, json_t **out, berth_error *err);
/* An array of at most BERTH_SPEC_MAX_ARRAY entries. */
int berth_json_get_array(json_t *obj, const char *key, const char *field, json_t **out, berth_error *err);

#endif
