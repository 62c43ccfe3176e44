/* What `berth ps` shows and selects, as docker ps does: --filter
 * (status=, label=, name=), --format templates ({{.ID}}...), and the
 * short form of a termination's reason.  Pure: no I/O. */
#ifndef BERTH_CLIENT_PS_H
#define BERTH_CLIENT_PS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

/* ---- filters ---- */

typedef enum { BERTH_FILTER_STATUS, BERTH_FILTER_LABEL, BERTH_FILTER_NAME } berth_filter_kind;

typedef struct berth_filter {
  berth_filter_kind kind;
  char *key;   /* label key; the status or name text otherwise */
  char *value; /* label value, or NULL: any value */
} berth_filter;

typedef struct berth_filters {
  berth_filter *items;
  size_t n;
} berth_filters;

/* Adds one `--filter` argument: "status=<stage or task state>" (any case;
 * "failed" is TASK_FAILED, "exited" TERMINATED, as docker's word),
 * "label=<key>[=<value>]" (the task's docker labels) or
 * "name=<part of the container id>".  Release with berth_filters_clear. */
int berth_filters_add(berth_filters *filters, const char *text, berth_error *err);
void berth_filters_clear(berth_filters *filters);

/* As docker: filters of one kind match when any does, and every kind
 * given must match.  No filters: everything matches. */
bool berth_filters_match(const berth_filters *filters, json_t *container);

/* ---- --format ---- */

typedef struct berth_format berth_format;

/* Parses a Go-template-like format: text with {{.Field}} (and
 * {{.Label "key"}}), where Field is one of ID, Image, Stage, State,
 * Status, Reason, ExitCode, Message, Name and Names (the docker name),
 * Labels.  "\t" and "\n" are escapes.  A leading
 * "table " adds a header row and aligns columns split by tabs.  Unknown
 * fields and unclosed actions are errors naming them. */
int berth_format_parse(const char *text, berth_format **out, berth_error *err);
void berth_format_free(berth_format *format);
bool berth_format_is_table(const berth_format *format);

/* The line for one container (no trailing newline); caller frees. */
char *berth_format_render(const berth_format *format, json_t *container);
/* The table's header line (each field's column name). Caller frees. */
char *berth_format_header(const berth_format *format);

/* ---- reasons ---- */

/* "REASON_CONTAINER_LIMITATION_MEMORY" → "out of memory", the known
 * Mesos reasons in a few words, any other without its REASON_ prefix, in
 * lower case with spaces.  Writes "" for NULL. */
void berth_reason_short(const char *reason, char *buf, size_t len);

#endif
