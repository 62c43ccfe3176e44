/* Container ids as a docker user types them: an exact id, or a prefix
 * that names exactly one container.  Pure: works on a container list
 * (GET /containers).  One wording for an unknown id everywhere: berthd's
 * own, "no such container: ID". */
#ifndef BERTH_CLIENT_IDS_H
#define BERTH_CLIENT_IDS_H

#include <jansson.h>

#include "util/error.h"

/* The container of containers that text names (borrowed): the one whose
 * id is text (an exact id always wins, even if it is also a prefix of
 * others), else the only one whose id starts with text.  None: ENOENT
 * "no such container: TEXT"; several: EINVAL naming up to 5 of them. */
int berth_ids_resolve(json_t *containers, const char *text, json_t **out, berth_error *err);

/* The same, giving the full id (borrowed from containers). */
int berth_ids_resolve_id(json_t *containers, const char *text, const char **id, berth_error *err);

#endif
