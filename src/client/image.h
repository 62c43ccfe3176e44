/* `berth image`: berthd's image collection.  `berth image prune` sends
 * PRUNE_IMAGES (API.md §3) and prints what was removed; `berth image ls`
 * lists the images berthd pulled (GET /images).  Request builders and
 * reply readers are pure; berth_cli_image runs the command. */
#ifndef BERTH_CLIENT_IMAGE_H
#define BERTH_CLIENT_IMAGE_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "client/client.h"
#include "util/error.h"

/* PRUNE_IMAGES with excluded_images built from the n names (new
 * reference), or NULL when a name is not valid UTF-8. */
json_t *berth_request_prune_images(char *const *excluded, size_t n);

/* The "removed" array of a PRUNE_IMAGES reply (borrowed), checked to hold
 * only strings. */
int berth_reply_pruned(json_t *reply, json_t **removed, berth_error *err);

/* Writes `berth image ls`'s table of the /images reply to out. */
int berth_print_images(json_t *reply, FILE *out, berth_error *err);

/* Opens the connection to berthd when the command needs it; *client stays
 * the caller's. */
typedef int (*berth_open_client_fn)(void *ctx, berth_client **client, berth_error *err);

/* `berth image SUBCOMMAND [ARGS]`, argv after "image"; returns the exit
 * status (0, 1 when berthd reports an error or cannot be reached, 125 on
 * a usage error). */
int berth_cli_image(int argc, char **argv, berth_open_client_fn open, void *ctx);

#endif
