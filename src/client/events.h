/* `berth events`: berthd's SUBSCRIBE stream (API.md §3), one line per
 * event as it happens. */
#ifndef BERTH_CLIENT_EVENTS_H
#define BERTH_CLIENT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "client/client.h"

/* The longest record berth events reads: SUBSCRIBED carries every
 * container berthd knows, which is far less than this. */
#define BERTH_EVENTS_MAX_RECORD (64u * 1024u * 1024u)

extern const char berth_events_help[];

/* Prints the stream to out until SIGINT or SIGTERM (exit status 0) or
 * until berthd ends it (an error: 1, with a message on stderr).  as_json:
 * each record's JSON on one line, HEARTBEAT included; otherwise the
 * readable lines of berth_events_format. */
int berth_events_main(berth_client *client, bool as_json, FILE *out);

/* The readable form of one record, at time `when` (seconds since the
 * epoch, shown in local time): one line per event, each ending in '\n';
 * SUBSCRIBED is followed by one CONTAINER line per container it lists;
 * HEARTBEAT prints nothing.  Control characters in berthd's strings are
 * shown as '?'.  Caller frees. */
char *berth_events_format(json_t *record, double when);

#endif
