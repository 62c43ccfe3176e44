#include "client/logs.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/base64.h"
#include "client/cli_args.h"
#include "client/files.h"
#include "util/alloc.h"

/* A follower asks again this long after an answer that was not cut short
 * (`more`): each request reads the container's whole index. */
#define LOGS_POLL_MS 200

const char berth_logs_help[] =
    "Usage: berth logs [OPTIONS] ID\n"
    "\n"
    "Print the container's output as docker does: stdout and stderr lines\n"
    "interleaved in the order the task wrote them, stdout lines on stdout and\n"
    "stderr lines on stderr.\n"
    "\n"
    "  -f, --follow       keep printing new output until the container terminated\n"
    "  -n, --tail N       only the last N lines (default: all)\n"
    "  --since TIME       only lines written at or after TIME: RFC 3339\n"
    "                     (2026-12-02T10:00:00Z), a unix time, or a duration\n"
    "                     before now (10m, 1h30m)\n"
    "  -t, --timestamps   prefix each line with the time it was written\n"
    "                     (RFC 3339, nanoseconds, UTC)\n"
    "  --stdout           only the stdout lines\n"
    "  --stderr           only the stderr lines\n";

enum { L_HELP = 1, L_FOLLOW, L_TAIL, L_SINCE, L_TIMESTAMPS, L_STDOUT, L_STDERR };

static const berth_opt logs_opts[] = {{"help", 'h', false, L_HELP},
                                      {"follow", 'f', false, L_FOLLOW},
                                      {"tail", 'n', true, L_TAIL},
                                      {"since", 0, true, L_SINCE},
                                      {"timestamps", 't', false, L_TIMESTAMPS},
                                      {"stdout", 0, false, L_STDOUT},
                                      {"stderr", 0, false, L_STDERR},
                                      {NULL, 0, false, 0}};

int berth_logs_parse_args(int argc, char **argv, berth_logs_opts *o, berth_error *err) {
  memset(o, 0, sizeof(*o));
  berth_args args;
  berth_args_init(&args, argc, argv);
  unsigned only = 0;
  int operands = 0;
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, logs_opts, &id, &value, err);
    if (kind < 0) return kind;
    if (kind == BERTH_ARG_END) break;
    if (kind == BERTH_ARG_OPERAND) {
      o->id = value;
      operands++;
      continue;
    }
    switch (id) {
      case L_HELP:
        o->help = true;
        break;
      case L_FOLLOW:
        o->follow = true;
        break;
      case L_TIMESTAMPS:
        o->timestamps = true;
        break;
      case L_STDOUT:
        only |= 1;
        break;
      case L_STDERR:
        only |= 2;
        break;
      case L_SINCE:
        o->since = value;
        break;
      case L_TAIL: {
        if (!strcmp(value, "all")) {
          o->has_tail = false;
          break;
        }
        char *end;
        errno = 0;
        unsigned long long n = strtoull(value, &end, 10);
        if (!isdigit((unsigned char)value[0]) || errno || *end)
          return berth_error_set(err, BERTH_EINVAL, "--tail: '%s' is not a number of lines or all", value);
        o->has_tail = true;
        o->tail = n;
        break;
      }
    }
  }
  o->streams = only ? only : 3;
  if (o->help) return 0;
  if (operands == 0) return berth_error_set(err, BERTH_EINVAL, "logs needs a container ID");
  if (operands > 1) return berth_error_set(err, BERTH_EINVAL, "logs takes one container ID");
  if (o->since) {
    double t;
    if (berth_logs_parse_since(o->since, 0, &t, err) < 0) return err->code;
  }
  return 0;
}

/* Go's time.ParseDuration units. */
static int parse_duration(const char *s, double *secs) {
  static const struct {
    const char *unit;
    double secs;
  } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
  double total = 0;
  if (!*s) return -1;
  while (*s) {
    char *end;
    if (!isdigit((unsigned char)*s) && *s != '.') return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s) return -1;
    s = end;
    size_t best = 0, best_len = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      size_t l = strlen(units[i].unit);
      if (!strncmp(s, units[i].unit, l) && l > best_len) {
        best = i;
        best_len = l;
      }
    }
    if (!best_len) return -1;
    total += v * units[best].secs;
    s += best_len;
  }
  *secs = total;
  return 0;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* YYYY-MM-DD[THH:MM:SS[.frac][Z|+HH:MM|-HH:MM]] */
static int parse_rfc3339(const char *s, double *out) {
  struct tm tm = {0};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (strlen(s) < 10 || digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
      digits(s + 8, 2, &d) < 0)
    return -1;
  s += 10;
  double frac = 0;
  bool zoned = false;
  long offset = 0;
  if (*s == 'T' || *s == 't' || *s == ' ') {
    if (strlen(s) < 9 || digits(s + 1, 2, &h) < 0 || s[3] != ':' || digits(s + 4, 2, &mi) < 0 || s[6] != ':' ||
        digits(s + 7, 2, &sec) < 0)
      return -1;
    s += 9;
    if (*s == '.') {
      char *end;
      frac = strtod(s, &end);
      if (end == s + 1) return -1;
      s = end;
    }
    if (*s == 'Z' || *s == 'z') {
      zoned = true;
      s++;
    } else if (*s == '+' || *s == '-') {
      int oh, om;
      if (strlen(s) != 6 || digits(s + 1, 2, &oh) < 0 || s[3] != ':' || digits(s + 4, 2, &om) < 0) return -1;
      zoned = true;
      offset = (oh * 3600L + om * 60L) * (*s == '-' ? -1 : 1);
      s += 6;
    }
  }
  if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  time_t t = zoned ? timegm(&tm) - offset : mktime(&tm);
  if (t == (time_t)-1 && !zoned) return -1;
  *out = (double)t + frac;
  return 0;
}

int berth_logs_parse_since(const char *text, double now, double *out, berth_error *err) {
  if (now <= 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
  }
  double secs;
  if (parse_rfc3339(text, out) == 0) return 0;
  /* A unix time: digits with an optional fraction. */
  size_t n = strspn(text, "0123456789");
  if (n > 0 && (text[n] == '\0' || (text[n] == '.' && text[n + 1 + strspn(text + n + 1, "0123456789")] == '\0'))) {
    *out = strtod(text, NULL);
    return 0;
  }
  if (parse_duration(text, &secs) == 0) {
    *out = now - secs;
    return 0;
  }
  return berth_error_set(err, BERTH_EINVAL,
                         "--since: '%s' is not an RFC 3339 time, a unix time or a duration such as 10m", text);
}

void berth_logs_format_time(int64_t time_ns, char *buf, size_t size) {
  time_t secs = (time_t)(time_ns / 1000000000);
  long nanos = (long)(time_ns % 1000000000);
  if (nanos < 0) {
    nanos += 1000000000;
    secs--;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char day[32];
  strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, size, "%s.%09ldZ", day, nanos);
}

static int write_all(int fd, const char *buf, size_t len, berth_error *err) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return berth_error_errno(err, errno, "write %s", fd == STDOUT_FILENO ? "stdout" : "stderr");
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

/* mid_line[s]: the last bytes printed for stream s did not end a line, so
 * the next ones continue it and take no timestamp. */
static int print_lines(json_t *lines, bool timestamps, bool mid_line[3], berth_error *err) {
  size_t i;
  json_t *l;
  json_array_foreach(lines, i, l) {
    const char *stream = json_string_value(json_object_get(l, "stream"));
    json_t *data = json_object_get(l, "data");
    if (!stream || !json_is_string(data)) return berth_error_set(err, BERTH_EIO, "unexpected /logs reply from berthd");
    int s = !strcmp(stream, "stderr") ? 2 : 1;
    int fd = s == 2 ? STDERR_FILENO : STDOUT_FILENO;
    cleanup_free unsigned char *bytes = NULL;
    size_t len = 0;
    if (berth_base64_decode(json_string_value(data), json_string_length(data), &bytes, &len, err) < 0)
      return berth_error_prefix(err, "/logs reply from berthd");
    if (len == 0) continue;
    if (timestamps && !mid_line[s]) {
      char ts[48];
      berth_logs_format_time((int64_t)json_integer_value(json_object_get(l, "time_ns")), ts, sizeof(ts));
      strcat(ts, " ");
      if (write_all(fd, ts, strlen(ts), err) < 0) return err->code;
    }
    if (write_all(fd, (const char *)bytes, len, err) < 0) return err->code;
    mid_line[s] = bytes[len - 1] != '\n';
  }
  return 0;
}

int berth_logs_run(berth_client *client, const berth_logs_opts *o, berth_error *err) {
  uint64_t next[3] = {0, 0, 0};
  bool mid_line[3] = {false, false, false};
  bool first = true;
  char since[64] = "";
  if (o->since) {
    double t;
    if (berth_logs_parse_since(o->since, 0, &t, err) < 0) return err->code;
    snprintf(since, sizeof(since), "&since=%.9f", t);
  }
  cleanup_free char *id = berth_url_escape(o->id);
  for (;;) {
    char tail[40] = "";
    if (first && o->has_tail) snprintf(tail, sizeof(tail), "&tail=%" PRIu64, o->tail);
    cleanup_free char *path =
        berth_asprintf("/logs?container_id=%s&stdout=%d&stderr=%d%s%s&after_stdout=%" PRIu64 "&after_stderr=%" PRIu64,
                       id, (o->streams & 1) ? 1 : 0, (o->streams & 2) ? 1 : 0, tail, since, next[1], next[2]);
    cleanup_json json_t *reply = NULL;
    if (berth_client_get_json(client, path, BERTH_CALL_TIMEOUT_MS, &reply, err) < 0) return err->code;
    first = false;
    json_t *lines = json_object_get(reply, "lines"), *nx = json_object_get(reply, "next");
    if (!json_is_array(lines) || !json_is_object(nx))
      return berth_error_set(err, BERTH_EIO, "unexpected /logs reply from berthd");
    if (print_lines(lines, o->timestamps, mid_line, err) < 0) return err->code;
    next[1] = (uint64_t)json_integer_value(json_object_get(nx, "stdout"));
    next[2] = (uint64_t)json_integer_value(json_object_get(nx, "stderr"));
    if (json_is_true(json_object_get(reply, "more"))) continue;
    if (!o->follow || json_is_true(json_object_get(reply, "ended"))) return 0;
    usleep(LOGS_POLL_MS * 1000);
  }
}
