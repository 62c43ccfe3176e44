#include "client/events.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/recordio.h"

const char berth_events_help[] =
    "Usage: berth events [--json]\n"
    "\n"
    "Print berthd's container events as they happen (its SUBSCRIBE stream),\n"
    "one line each: the time berth received it, the type, the container id\n"
    "and what changed:\n"
    "\n"
    "  STAGE_CHANGED   the new stage (FETCHING, PULLING, MOUNTING, RUNNING,\n"
    "                  DESTROYING)\n"
    "  TERMINATED      state, reason, exit code and message\n"
    "  REMOVED         the container was forgotten\n"
    "  HEALTH_CHANGED  health status, failures in a row, last message\n"
    "\n"
    "First comes SUBSCRIBED with the number of containers berthd knows, and\n"
    "a CONTAINER line for each with its stage (and state once TERMINATED).\n"
    "Heartbeats are not shown.  Runs until SIGINT or SIGTERM (exit 0).  If\n"
    "berthd ends the stream (it stopped, or dropped this reader for reading\n"
    "too slowly), berth says so and exits 1.\n"
    "\n"
    "  --json   print each record's JSON as berthd sent it, one per line,\n"
    "           HEARTBEAT records included\n";

static volatile sig_atomic_t stop_requested;

static void on_stop(int signo) {
  (void)signo;
  stop_requested = 1;
}

/* Control characters (an escape sequence in a docker message) are not
 * sent to the terminal. */
static void put_text(char **buf, size_t *len, size_t *cap, const char *s) {
  for (; s && *s; s++) {
    char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    if (*len + 2 > *cap) *buf = berth_realloc(*buf, *cap = *cap * 2 + 64);
    (*buf)[(*len)++] = c;
    (*buf)[*len] = '\0';
  }
}

static const char *str(json_t *obj, const char *key) { return json_string_value(json_object_get(obj, key)); }

static const char *id_of(json_t *body) {
  const char *id = str(json_object_get(body, "container_id"), "value");
  return id ? id : "-";
}

typedef struct line {
  char *buf;
  size_t len, cap;
  char stamp[40];
} line;

static void field(line *l, const char *s) {
  if (!s || !*s) return;
  if (l->len && l->buf[l->len - 1] != '\n') put_text(&l->buf, &l->len, &l->cap, "  ");
  put_text(&l->buf, &l->len, &l->cap, s);
}

static void begin(line *l, const char *type) {
  field(l, l->stamp);
  field(l, type);
}

/* Added raw: put_text would show the newline as '?'. */
static void end(line *l) {
  if (l->len + 2 > l->cap) l->buf = berth_realloc(l->buf, l->cap = l->cap * 2 + 64);
  l->buf[l->len++] = '\n';
  l->buf[l->len] = '\0';
}

static void termination_fields(line *l, json_t *t) {
  field(l, str(t, "state"));
  field(l, str(t, "reason"));
  json_t *code = json_object_get(t, "exit_code");
  if (json_is_integer(code)) {
    char buf[32];
    snprintf(buf, sizeof(buf), "exit %lld", (long long)json_integer_value(code));
    field(l, buf);
  }
  field(l, str(t, "message"));
}

char *berth_events_format(json_t *record, double when) {
  line l = {.cap = 128};
  l.buf = berth_calloc(1, l.cap);
  time_t secs = (time_t)when;
  struct tm tm;
  localtime_r(&secs, &tm);
  char day[32];
  strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(l.stamp, sizeof(l.stamp), "%s.%03d", day, (int)((when - (double)secs) * 1000) % 1000);
  const char *type = str(record, "type");
  if (!type) type = "?";
  if (!strcmp(type, "HEARTBEAT")) return l.buf;
  if (!strcmp(type, "SUBSCRIBED")) {
    json_t *list = json_object_get(json_object_get(record, "subscribed"), "containers");
    char n[48];
    snprintf(n, sizeof(n), "%zu containers", json_array_size(list));
    begin(&l, type);
    field(&l, n);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
      end(&l);
      begin(&l, "CONTAINER");
      field(&l, id_of(c));
      field(&l, str(c, "stage"));
      json_t *t = json_object_get(c, "termination");
      if (t) termination_fields(&l, t);
    }
  } else if (!strcmp(type, "STAGE_CHANGED")) {
    json_t *b = json_object_get(record, "stage_changed");
    begin(&l, type);
    field(&l, id_of(b));
    field(&l, str(b, "stage"));
  } else if (!strcmp(type, "TERMINATED")) {
    json_t *b = json_object_get(record, "terminated");
    begin(&l, type);
    field(&l, id_of(b));
    termination_fields(&l, json_object_get(b, "termination"));
  } else if (!strcmp(type, "REMOVED")) {
    begin(&l, type);
    field(&l, id_of(json_object_get(record, "removed")));
  } else if (!strcmp(type, "HEALTH_CHANGED")) {
    json_t *b = json_object_get(record, "health_changed");
    json_t *h = json_object_get(b, "health");
    begin(&l, type);
    field(&l, id_of(b));
    field(&l, str(h, "status"));
    json_t *failures = json_object_get(h, "consecutive_failures");
    if (json_is_integer(failures)) {
      char buf[48];
      snprintf(buf, sizeof(buf), "failures %lld", (long long)json_integer_value(failures));
      field(&l, buf);
    }
    field(&l, str(h, "last_message"));
  } else {
    /* A record this berth does not know: shown whole. */
    begin(&l, type);
    cleanup_free char *text = json_dumps(record, JSON_COMPACT);
    field(&l, text);
  }
  end(&l);
  return l.buf;
}

typedef struct events_ctx {
  berth_recordio_reader reader;
  bool as_json;
  FILE *out;
  bool subscribed;
} events_ctx;

static double now_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int record_cb(const char *data, size_t len, void *arg) {
  events_ctx *e = arg;
  json_error_t jerr;
  json_t *record = json_loadb(data, len, 0, &jerr);
  if (!json_is_object(record)) {
    json_decref(record);
    return BERTH_EIO;
  }
  e->subscribed = true;
  if (e->as_json) {
    /* berthd's records are compact JSON, one line already. */
    if (memchr(data, '\n', len)) {
      json_dumpf(record, e->out, JSON_COMPACT);
    } else {
      fwrite(data, 1, len, e->out);
    }
    fputc('\n', e->out);
  } else {
    cleanup_free char *text = berth_events_format(record, now_secs());
    fputs(text, e->out);
  }
  json_decref(record);
  fflush(e->out); /* each event as it comes, even into a pipe */
  return 0;
}

static int data_cb(const char *buf, size_t len, void *arg, berth_error *err) {
  events_ctx *e = arg;
  int rc = berth_recordio_feed(&e->reader, buf, len, record_cb, e, err);
  if (rc == BERTH_EIO && !err->msg[0])
    berth_error_set(err, BERTH_EIO, "berthd sent a record that is not a JSON object");
  return rc;
}

int berth_events_main(berth_client *client, bool as_json, FILE *out) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  berth_client_set_cancel(client, &stop_requested);
  events_ctx e = {.as_json = as_json, .out = out};
  berth_recordio_reader_init(&e.reader, BERTH_EVENTS_MAX_RECORD);
  berth_error err = {0};
  int rc = berth_client_stream(client, "/api/v1", "{\"type\":\"SUBSCRIBE\"}", data_cb, &e, &err);
  berth_recordio_reader_clear(&e.reader);
  if (stop_requested) return 0; /* Ctrl-C is how the user ends it */
  if (rc == 0)
    berth_error_set(&err, BERTH_EIO,
                    "berthd at %s closed the event stream (it stopped, or dropped this reader for reading too slowly)",
                    berth_client_addr_text(client));
  fprintf(stderr, "berth: %s\n", err.msg);
  return 1;
}
