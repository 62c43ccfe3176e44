#include "client/ps.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/calls.h"
#include "util/alloc.h"

/* ---- container fields ---- */

static const char *id_of(json_t *c) {
  const char *id = json_string_value(json_object_get(json_object_get(c, "container_id"), "value"));
  return id ? id : "";
}

static const char *string_of(json_t *obj, const char *key) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s ? s : "";
}

static json_t *termination_of(json_t *c) { return json_object_get(c, "termination"); }

/* The task state once terminated (TASK_FAILED...), else the stage. */
static const char *state_of(json_t *c) {
  const char *state = json_string_value(json_object_get(termination_of(c), "state"));
  return state ? state : berth_container_stage(c);
}

/* The label's value, or NULL when the container has no such label. */
static const char *label_of(json_t *c, const char *key) {
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(json_object_get(c, "labels"), "labels"), i, l) {
    const char *k = json_string_value(json_object_get(l, "key"));
    if (k && strcmp(k, key) == 0) return string_of(l, "value");
  }
  return NULL;
}

/* ---- reasons ---- */

void berth_reason_short(const char *reason, char *buf, size_t len) {
  static const struct {
    const char *reason, *text;
  } known[] = {
      {"REASON_CONTAINER_LIMITATION_MEMORY", "out of memory"},
      {"REASON_CONTAINER_LAUNCH_FAILED", "launch failed"},
      {"REASON_TASK_KILLED_DURING_LAUNCH", "killed during launch"},
      {"REASON_EXECUTOR_TERMINATED", "container gone"},
      {"REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", "unhealthy"},
      {"REASON_MAX_COMPLETION_TIME_REACHED", "max completion time"},
  };
  if (len == 0) return;
  buf[0] = '\0';
  if (!reason) return;
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    if (strcmp(reason, known[i].reason) == 0) {
      snprintf(buf, len, "%s", known[i].text);
      return;
    }
  }
  if (strncmp(reason, "REASON_", 7) == 0) reason += 7;
  size_t n = 0;
  for (; reason[n] && n + 1 < len; n++) buf[n] = reason[n] == '_' ? ' ' : (char)tolower((unsigned char)reason[n]);
  buf[n] = '\0';
}

/* ---- filters ---- */

static const char *const stages[] = {"FETCHING", "PULLING", "MOUNTING", "RUNNING", "DESTROYING", "TERMINATED"};
static const char *const task_states[] = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The canonical stage or task state a status filter names, or NULL. */
static const char *canonical_status(const char *text) {
  if (strcasecmp(text, "exited") == 0) return "TERMINATED";
  for (size_t i = 0; i < COUNT(stages); i++)
    if (strcasecmp(text, stages[i]) == 0) return stages[i];
  for (size_t i = 0; i < COUNT(task_states); i++)
    if (strcasecmp(text, task_states[i]) == 0 || strcasecmp(text, task_states[i] + 5) == 0) return task_states[i];
  return NULL;
}

int berth_filters_add(berth_filters *f, const char *text, berth_error *err) {
  const char *eq = strchr(text, '=');
  if (!eq) return berth_error_set(err, BERTH_EINVAL, "invalid filter '%s': expected status=, label= or name=", text);
  size_t klen = (size_t)(eq - text);
  const char *value = eq + 1;
  berth_filter item = {0};
  if (klen == 6 && strncmp(text, "status", 6) == 0) {
    const char *status = canonical_status(value);
    if (!status)
      return berth_error_set(err, BERTH_EINVAL,
                             "invalid filter '%s': status is a stage (fetching, pulling, mounting, running, "
                             "destroying, terminated or exited) or a task state (finished, failed, killed)",
                             text);
    item = (berth_filter){BERTH_FILTER_STATUS, berth_strdup(status), NULL};
  } else if (klen == 5 && strncmp(text, "label", 5) == 0) {
    const char *veq = strchr(value, '=');
    if (veq == value || !*value)
      return berth_error_set(err, BERTH_EINVAL, "invalid filter '%s': expected label=KEY or label=KEY=VALUE", text);
    item = (berth_filter){BERTH_FILTER_LABEL, veq ? berth_strndup(value, (size_t)(veq - value)) : berth_strdup(value),
                          veq ? berth_strdup(veq + 1) : NULL};
  } else if (klen == 4 && strncmp(text, "name", 4) == 0) {
    item = (berth_filter){BERTH_FILTER_NAME, berth_strdup(value), NULL};
  } else {
    return berth_error_set(err, BERTH_EINVAL, "invalid filter '%s': unknown key '%.*s' (use status, label or name)",
                           text, (int)klen, text);
  }
  f->items = berth_realloc(f->items, (f->n + 1) * sizeof(*f->items));
  f->items[f->n++] = item;
  return 0;
}

void berth_filters_clear(berth_filters *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->items[i].key);
    free(f->items[i].value);
  }
  free(f->items);
  f->items = NULL;
  f->n = 0;
}

static bool filter_matches(const berth_filter *item, json_t *c) {
  switch (item->kind) {
    case BERTH_FILTER_STATUS:
      return strcmp(berth_container_stage(c), item->key) == 0 || strcmp(state_of(c), item->key) == 0;
    case BERTH_FILTER_LABEL: {
      const char *v = label_of(c, item->key);
      return v && (!item->value || strcmp(v, item->value) == 0);
    }
    case BERTH_FILTER_NAME:
      return strstr(id_of(c), item->key) != NULL;
  }
  return false;
}

bool berth_filters_match(const berth_filters *f, json_t *c) {
  static const berth_filter_kind kinds[] = {BERTH_FILTER_STATUS, BERTH_FILTER_LABEL, BERTH_FILTER_NAME};
  for (size_t k = 0; k < COUNT(kinds); k++) {
    bool given = false, any = false;
    for (size_t i = 0; i < f->n; i++) {
      if (f->items[i].kind != kinds[k]) continue;
      given = true;
      any = any || filter_matches(&f->items[i], c);
    }
    if (given && !any) return false;
  }
  return true;
}

/* ---- --format ---- */

typedef enum {
  SEG_TEXT,
  SEG_ID,
  SEG_IMAGE,
  SEG_STAGE,
  SEG_STATE,
  SEG_STATUS,
  SEG_REASON,
  SEG_EXIT_CODE,
  SEG_MESSAGE,
  SEG_NAME,
  SEG_NAMES,
  SEG_LABELS,
  SEG_LABEL,
  SEG_JSON,
} seg_kind;

static const struct {
  const char *field, *header;
  seg_kind kind;
} fields[] = {
    {"ID", "CONTAINER ID", SEG_ID},
    {"Image", "IMAGE", SEG_IMAGE},
    {"Stage", "STAGE", SEG_STAGE},
    {"State", "STATE", SEG_STATE},
    {"Status", "STATUS", SEG_STATUS},
    {"Reason", "REASON", SEG_REASON},
    {"ExitCode", "EXIT CODE", SEG_EXIT_CODE},
    {"Message", "MESSAGE", SEG_MESSAGE},
    {"Name", "DOCKER NAME", SEG_NAME},
    {"Names", "NAMES", SEG_NAMES},
    {"Labels", "LABELS", SEG_LABELS},
    {"Label", "LABEL", SEG_LABEL},
};

typedef struct segment {
  seg_kind kind;
  char *text; /* SEG_TEXT: the text; SEG_LABEL: the key */
} segment;

struct berth_format {
  bool table;
  segment *segs;
  size_t n;
};

static void add_segment(berth_format *f, seg_kind kind, char *text) {
  f->segs = berth_realloc(f->segs, (f->n + 1) * sizeof(*f->segs));
  f->segs[f->n++] = (segment){kind, text};
}

/* Literal text with the \t and \n escapes a shell leaves as typed. */
static void add_text(berth_format *f, const char *text, size_t len) {
  if (len == 0) return;
  char *out = berth_malloc(len + 1);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\\' && i + 1 < len && (text[i + 1] == 't' || text[i + 1] == 'n')) {
      out[n++] = text[++i] == 't' ? '\t' : '\n';
      continue;
    }
    out[n++] = text[i];
  }
  out[n] = '\0';
  add_segment(f, SEG_TEXT, out);
}

static int unknown_action(const char *action, size_t len, berth_error *err) {
  return berth_error_set(err, BERTH_EINVAL,
                         "invalid --format: unknown field '{{%.*s}}' (fields: .ID .Image .Stage .State .Status "
                         ".Reason .ExitCode .Message .Name .Names .Labels, .Label \"KEY\", json .)",
                         (int)(len > 80 ? 80 : len), action);
}

/* One action, the text between {{ and }}. */
static int parse_action(berth_format *f, const char *action, size_t len, berth_error *err) {
  const char *p = action, *end = action + len;
  while (p < end && isspace((unsigned char)*p)) p++;
  while (end > p && isspace((unsigned char)end[-1])) end--;
  size_t n = (size_t)(end - p);
  if (n == 6 && strncmp(p, "json .", 6) == 0) {
    add_segment(f, SEG_JSON, NULL);
    return 0;
  }
  if (n < 2 || *p != '.') return unknown_action(action, len, err);
  const char *name = p + 1, *name_end = name;
  while (name_end < end && isalnum((unsigned char)*name_end)) name_end++;
  size_t nlen = (size_t)(name_end - name);
  for (size_t i = 0; i < COUNT(fields); i++) {
    if (strlen(fields[i].field) != nlen || strncmp(fields[i].field, name, nlen) != 0) continue;
    if (fields[i].kind != SEG_LABEL) {
      if (name_end != end) return unknown_action(action, len, err);
      add_segment(f, fields[i].kind, NULL);
      return 0;
    }
    /* .Label "key" */
    const char *q = name_end;
    while (q < end && isspace((unsigned char)*q)) q++;
    if (q == name_end || q >= end || *q != '"' || end - q < 2 || end[-1] != '"' ||
        memchr(q + 1, '"', (size_t)(end - q - 2)))
      return berth_error_set(err, BERTH_EINVAL, "invalid --format: '{{%.*s}}': write {{.Label \"KEY\"}}",
                             (int)(len > 80 ? 80 : len), action);
    add_segment(f, SEG_LABEL, berth_strndup(q + 1, (size_t)(end - q - 2)));
    return 0;
  }
  return unknown_action(action, len, err);
}

int berth_format_parse(const char *text, berth_format **out, berth_error *err) {
  berth_format *f = berth_calloc(1, sizeof(*f));
  if (strncmp(text, "table", 5) == 0 && (text[5] == ' ' || text[5] == '\0')) {
    f->table = true;
    text += text[5] ? 6 : 5;
  }
  const char *p = text;
  for (;;) {
    const char *open = strstr(p, "{{");
    if (!open) {
      add_text(f, p, strlen(p));
      break;
    }
    add_text(f, p, (size_t)(open - p));
    const char *close = strstr(open + 2, "}}");
    if (!close) {
      berth_format_free(f);
      return berth_error_set(err, BERTH_EINVAL, "invalid --format: '{{' without '}}' in '%.80s'", open);
    }
    if (parse_action(f, open + 2, (size_t)(close - open - 2), err) < 0) {
      berth_format_free(f);
      return err->code;
    }
    p = close + 2;
  }
  if (f->n == 0 && f->table) add_segment(f, SEG_ID, NULL); /* "table" alone: ids */
  *out = f;
  return 0;
}

void berth_format_free(berth_format *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) free(f->segs[i].text);
  free(f->segs);
  free(f);
}

bool berth_format_is_table(const berth_format *f) { return f->table; }

/* A growing string. */
typedef struct buf {
  char *data;
  size_t len, cap;
} buf;

static void put(buf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->data = berth_realloc(b->data, b->cap);
  }
  memcpy(b->data + b->len, s, n + 1);
  b->len += n;
}

static void put_field(buf *b, const segment *s, json_t *c) {
  char tmp[512];
  json_t *t = termination_of(c);
  switch (s->kind) {
    case SEG_TEXT:
      put(b, s->text);
      return;
    case SEG_ID:
      put(b, id_of(c));
      return;
    case SEG_IMAGE:
      put(b, string_of(c, "image"));
      return;
    case SEG_STAGE:
      put(b, berth_container_stage(c));
      return;
    case SEG_STATE:
      put(b, state_of(c));
      return;
    case SEG_STATUS:
      berth_container_status(c, tmp, sizeof(tmp));
      put(b, tmp);
      return;
    case SEG_REASON:
      berth_reason_short(json_string_value(json_object_get(t, "reason")), tmp, sizeof(tmp));
      put(b, tmp);
      return;
    case SEG_EXIT_CODE:
      if (json_is_integer(json_object_get(t, "exit_code"))) {
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(json_object_get(t, "exit_code")));
        put(b, tmp);
      }
      return;
    case SEG_MESSAGE:
      put(b, string_of(t, "message"));
      return;
    case SEG_NAME:
    case SEG_NAMES:
      put(b, string_of(c, "docker_name"));
      return;
    case SEG_LABELS: {
      size_t i;
      json_t *l;
      json_array_foreach(json_object_get(json_object_get(c, "labels"), "labels"), i, l) {
        if (i > 0) put(b, ",");
        put(b, string_of(l, "key"));
        put(b, "=");
        put(b, string_of(l, "value"));
      }
      return;
    }
    case SEG_LABEL: {
      const char *v = label_of(c, s->text);
      put(b, v ? v : "");
      return;
    }
    case SEG_JSON: {
      char *text = json_dumps(c, JSON_COMPACT | JSON_REAL_PRECISION(15));
      put(b, text ? text : "null");
      free(text);
      return;
    }
  }
}

char *berth_format_render(const berth_format *f, json_t *c) {
  buf b = {0};
  put(&b, "");
  for (size_t i = 0; i < f->n; i++) put_field(&b, &f->segs[i], c);
  return b.data;
}

char *berth_format_header(const berth_format *f) {
  buf b = {0};
  put(&b, "");
  for (size_t i = 0; i < f->n; i++) {
    const segment *s = &f->segs[i];
    if (s->kind == SEG_TEXT) {
      put(&b, s->text);
      continue;
    }
    if (s->kind == SEG_JSON) {
      put(&b, "JSON");
      continue;
    }
    for (size_t k = 0; k < COUNT(fields); k++)
      if (fields[k].kind == s->kind) put(&b, s->kind == SEG_LABEL ? s->text : fields[k].header);
  }
  return b.data;
}
