#include "client/cli_args.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/duration.h"

/* ---- option parser ---- */

void berth_args_init(berth_args *args, int argc, char **argv) {
  args->argc = argc;
  args->argv = argv;
  args->index = 0;
  args->only_operands = false;
  args->bundle = NULL;
}

/* Long names match with '-' and '_' interchangeable: berthd's flags use
 * Mesos's "--token_file", docker users type "--force-pull". */
static bool long_name_eq(const char *name, const char *text, size_t len) {
  size_t i = 0;
  for (; i < len && name[i]; i++) {
    char a = name[i] == '-' ? '_' : name[i];
    char b = text[i] == '-' ? '_' : text[i];
    if (a != b) return false;
  }
  return i == len && name[i] == '\0';
}

static const berth_opt *find_long(const berth_opt *opts, const char *text, size_t len) {
  for (; opts->id; opts++)
    if (opts->name && long_name_eq(opts->name, text, len)) return opts;
  return NULL;
}

static const berth_opt *find_short(const berth_opt *opts, char c) {
  for (; opts->id; opts++)
    if (opts->short_name && opts->short_name == c) return opts;
  return NULL;
}

/* The value of an option that takes one: inline text if any, else the
 * next argument. */
static int take_value(berth_args *a, const char *shown, const char *inline_value, const char **value,
                      berth_error *err) {
  if (inline_value) {
    *value = inline_value;
    return 0;
  }
  if (a->index >= a->argc) return berth_error_set(err, BERTH_EINVAL, "option '%s' needs a value", shown);
  *value = a->argv[a->index++];
  return 0;
}

static int parse_long(berth_args *a, const berth_opt *opts, const char *arg, int *id, const char **value,
                      berth_error *err) {
  const char *name = arg + 2;
  const char *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  const berth_opt *opt = find_long(opts, name, len);
  if (!opt) return berth_error_set(err, BERTH_EINVAL, "unknown option '%.*s'", (int)len + 2, arg);
  if (!opt->has_arg && eq) return berth_error_set(err, BERTH_EINVAL, "option '--%s' takes no value", opt->name);
  *id = opt->id;
  if (!opt->has_arg) return BERTH_ARG_OPTION;
  int ret = take_value(a, arg, eq ? eq + 1 : NULL, value, err);
  return ret < 0 ? ret : BERTH_ARG_OPTION;
}

/* One short option: c, with rest the letters after it in the same
 * argument.  Flags bundle as getopt's do ("-aq" is -a -q, docker's
 * `ps -aq`); an option that takes a value takes the rest, or else the
 * next argument ("-fstatus=running", "-aqf status=running"). */
static int parse_short(berth_args *a, const berth_opt *opts, const char *whole, char c, const char *rest, int *id,
                       const char **value, berth_error *err) {
  a->bundle = NULL;
  const berth_opt *opt = find_short(opts, c);
  if (!opt) {
    if (rest == whole + 2) return berth_error_set(err, BERTH_EINVAL, "unknown option '%s'", whole);
    return berth_error_set(err, BERTH_EINVAL, "unknown option '-%c' in '%s'", c, whole);
  }
  *id = opt->id;
  if (!opt->has_arg) {
    if (*rest) a->bundle = rest;
    a->bundle_whole = whole;
    return BERTH_ARG_OPTION;
  }
  char shown[3] = {'-', c, '\0'};
  int ret = take_value(a, shown, *rest ? rest : NULL, value, err);
  return ret < 0 ? ret : BERTH_ARG_OPTION;
}

int berth_args_next(berth_args *a, const berth_opt *opts, int *id, const char **value, berth_error *err) {
  *id = 0;
  *value = NULL;
  if (a->bundle) return parse_short(a, opts, a->bundle_whole, a->bundle[0], a->bundle + 1, id, value, err);
  if (a->index >= a->argc) return BERTH_ARG_END;
  char *arg = a->argv[a->index++];
  if (!a->only_operands && strcmp(arg, "--") == 0) {
    a->only_operands = true;
    return berth_args_next(a, opts, id, value, err);
  }
  /* "-" alone is an operand by convention (stdin). */
  if (a->only_operands || arg[0] != '-' || arg[1] == '\0') {
    *value = arg;
    return BERTH_ARG_OPERAND;
  }
  if (arg[1] == '-') return parse_long(a, opts, arg, id, value, err);
  return parse_short(a, opts, arg, arg[1], arg + 2, id, value, err);
}

/* ---- ids ---- */

bool berth_cli_valid_id(const char *id) {
  size_t len = strlen(id);
  if (len == 0 || len > 64 || !isalnum((unsigned char)id[0])) return false;
  for (size_t i = 1; i < len; i++) {
    unsigned char c = (unsigned char)id[i];
    if (!isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

void berth_cli_generate_id(char *buf, size_t len) {
  unsigned int r = 0;
  if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
    /* Only for uniqueness among this node's containers; a clash is
     * reported as "already exists", never silently merged. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r = (unsigned int)ts.tv_nsec ^ (unsigned int)ts.tv_sec ^ ((unsigned int)getpid() << 16);
  }
  snprintf(buf, len, "run-%08x", r);
}

/* ---- signals ---- */

static const struct {
  const char *name;
  int signo;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL}, {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

/* Linux's highest real-time signal; the container runs on Linux whatever
 * libc this CLI was built with. */
#define MAX_SIGNAL 64

int berth_cli_parse_signal(const char *text, int *signo, berth_error *err) {
  if (isdigit((unsigned char)text[0])) {
    char *end = NULL;
    errno = 0;
    long n = strtol(text, &end, 10);
    /* 0 is refused: KILL_CONTAINER without a signal means destroy, and
     * kill(2)'s "signal 0" existence check has no use here. */
    if (*end != '\0' || errno != 0 || n < 1 || n > MAX_SIGNAL)
      return berth_error_set(err, BERTH_EINVAL, "invalid signal '%s': expected 1-%d or a name", text, MAX_SIGNAL);
    *signo = (int)n;
    return 0;
  }
  const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
  for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
    if (strcasecmp(name, signal_names[i].name) == 0) {
      *signo = signal_names[i].signo;
      return 0;
    }
  }
  return berth_error_set(err, BERTH_EINVAL, "unknown signal '%s'", text);
}

/* ---- run flags ---- */

int berth_cli_parse_env(const char *text, berth_env_var *out, bool *found, berth_error *err) {
  const char *eq = strchr(text, '=');
  size_t name_len = eq ? (size_t)(eq - text) : strlen(text);
  if (name_len == 0) return berth_error_set(err, BERTH_EINVAL, "invalid environment variable '%s': empty name", text);
  out->name = berth_strndup(text, name_len);
  const char *value = eq ? eq + 1 : getenv(out->name);
  *found = value != NULL;
  out->value = value ? berth_strdup(value) : NULL;
  if (!*found) {
    free(out->name);
    out->name = NULL;
  }
  return 0;
}

int berth_cli_parse_volume(const char *text, berth_volume *out, berth_error *err) {
  const char *first = strchr(text, ':');
  const char *second = first ? strchr(first + 1, ':') : NULL;
  const char *ctr_end = second ? second : text + strlen(text);
  bool read_only = false;
  if (second) {
    if (strcasecmp(second + 1, "ro") == 0) {
      read_only = true;
    } else if (strcasecmp(second + 1, "rw") != 0) {
      return berth_error_set(err, BERTH_EINVAL, "invalid volume '%s': mode must be ro or rw", text);
    }
  }
  if (!first || first == text || ctr_end == first + 1)
    return berth_error_set(err, BERTH_EINVAL, "invalid volume '%s': expected HOST:CONTAINER[:ro|:rw]", text);
  out->host_path = berth_strndup(text, (size_t)(first - text));
  out->container_path = berth_strndup(first + 1, (size_t)(ctr_end - first - 1));
  out->read_only = read_only;
  return 0;
}

static int port_number(const char *text, size_t len, const char *whole, int *out, berth_error *err) {
  int value = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)text[i]) || value > 65535) {
      value = -1;
      break;
    }
    value = value * 10 + (text[i] - '0');
  }
  if (len == 0 || value < 1 || value > 65535)
    return berth_error_set(err, BERTH_EINVAL, "invalid port mapping '%s': ports are 1-65535", whole);
  *out = value;
  return 0;
}

int berth_cli_parse_port(const char *text, berth_port *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  const char *slash = strrchr(text, '/');
  const char *end = slash ? slash : text + strlen(text);
  /* CONTAINER after the last ':', HOST before it, and IP before that. */
  const char *ctr_colon = memrchr(text, ':', (size_t)(end - text));
  if (!ctr_colon || ctr_colon == text)
    return berth_error_set(err, BERTH_EINVAL, "invalid port mapping '%s': expected [IP:]HOST:CONTAINER[/tcp|/udp]",
                           text);
  const char *host_colon = memrchr(text, ':', (size_t)(ctr_colon - text));
  const char *host = host_colon ? host_colon + 1 : text;
  if (host_colon) {
    const char *ip = text;
    size_t ip_len = (size_t)(host_colon - text);
    bool bracketed = ip_len >= 2 && ip[0] == '[' && ip[ip_len - 1] == ']';
    if (bracketed) {
      ip++;
      ip_len -= 2;
    }
    unsigned char addr[16];
    char ip_text[sizeof(out->host_ip)];
    /* An IPv6 address without brackets would make "::1:80:80" mean
     * whatever the reader guesses. */
    bool ok = ip_len > 0 && ip_len < sizeof(ip_text) && (bracketed || !memchr(ip, ':', ip_len));
    if (ok) {
      memcpy(ip_text, ip, ip_len);
      ip_text[ip_len] = '\0';
      ok = inet_pton(AF_INET, ip_text, addr) == 1 || inet_pton(AF_INET6, ip_text, addr) == 1;
    }
    if (!ok)
      return berth_error_set(err, BERTH_EINVAL,
                             "invalid port mapping '%s': '%.*s' is not an IPv4 or IPv6 address (IPv6 in brackets)",
                             text, (int)(host_colon - text), text);
    memcpy(out->host_ip, ip_text, ip_len + 1);
  }
  const char *proto = slash ? slash + 1 : "tcp";
  if (strcasecmp(proto, "tcp") != 0 && strcasecmp(proto, "udp") != 0)
    return berth_error_set(err, BERTH_EINVAL, "invalid port mapping '%s': protocol must be tcp or udp", text);
  int ret = port_number(host, (size_t)(ctr_colon - host), text, &out->host_port, err);
  if (ret < 0) return ret;
  ret = port_number(ctr_colon + 1, (size_t)(end - ctr_colon - 1), text, &out->container_port, err);
  if (ret < 0) return ret;
  for (size_t i = 0; i < 3; i++) out->protocol[i] = (char)tolower((unsigned char)proto[i]);
  out->protocol[3] = '\0';
  return 0;
}

/* The minimums of API.md §3's mapping: CpuShares 2, CpuQuota 1000 of a
 * 100000 period, Memory 32 MB. */
size_t berth_cli_minimum_notes(double cpus, double mem_mb, double cpus_limit, double mem_limit_mb,
                               char notes[BERTH_MINIMUM_NOTES][128]) {
  size_t n = 0;
  if (!isnan(cpus) && cpus * 1024 < 2)
    snprintf(notes[n++], 128, "cpus %g raised to Docker's minimum CpuShares 2 (%g cpus)", cpus, 2.0 / 1024);
  if (!isnan(mem_mb) && mem_mb < 32) snprintf(notes[n++], 128, "mem %g MB raised to Docker's minimum 32 MB", mem_mb);
  if (!isnan(cpus_limit) && isfinite(cpus_limit) && cpus_limit * 100000 < 1000)
    snprintf(notes[n++], 128, "cpu limit %g raised to Docker's minimum CpuQuota 1000 (0.01 cpus)", cpus_limit);
  if (!isnan(mem_limit_mb) && isfinite(mem_limit_mb) && mem_limit_mb < 32)
    snprintf(notes[n++], 128, "mem limit %g MB raised to Docker's minimum 32 MB", mem_limit_mb);
  return n;
}

int berth_cli_parse_network(const char *text, const char **out, berth_error *err) {
  static const char *const modes[] = {"HOST", "BRIDGE", "NONE"};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (strcasecmp(text, modes[i]) == 0) {
      *out = modes[i];
      return 0;
    }
  }
  return berth_error_set(err, BERTH_EINVAL, "invalid network '%s': use host, bridge or none", text);
}

int berth_cli_parse_positive(const char *text, const char *what, double *out, berth_error *err) {
  char *end = NULL;
  errno = 0;
  double value = strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !isfinite(value) || value <= 0)
    return berth_error_set(err, BERTH_EINVAL, "invalid %s '%s': expected a positive number", what, text);
  *out = value;
  return 0;
}

int berth_cli_parse_limit(const char *text, const char *what, double *out, berth_error *err) {
  if (strcasecmp(text, "inf") == 0) {
    *out = INFINITY;
    return 0;
  }
  double value;
  if (berth_cli_parse_positive(text, what, &value, NULL) < 0)
    return berth_error_set(err, BERTH_EINVAL, "invalid %s '%s': expected a positive number or inf", what, text);
  *out = value;
  return 0;
}

/* ---- berth run ---- */

enum {
  RUN_NAME = 1,
  RUN_CPUS,
  RUN_MEM,
  RUN_ENV,
  RUN_VOLUME,
  RUN_NETWORK,
  RUN_PUBLISH,
  RUN_FORCE_PULL,
  RUN_PRIVILEGED,
  RUN_GRACE,
  RUN_DETACH,
  RUN_RM,
  RUN_INTERACTIVE,
  RUN_HELP,
  RUN_CPU_LIMIT,
  RUN_MEM_LIMIT,
  RUN_ADDR,
  RUN_TOKEN_FILE,
};

static const berth_opt run_options[] = {
    {"name", 0, true, RUN_NAME},
    {"cpus", 0, true, RUN_CPUS},
    {"mem", 0, true, RUN_MEM},
    {"env", 'e', true, RUN_ENV},
    {"volume", 'v', true, RUN_VOLUME},
    {"network", 0, true, RUN_NETWORK},
    {"publish", 'p', true, RUN_PUBLISH},
    {"force_pull", 0, false, RUN_FORCE_PULL},
    {"privileged", 0, false, RUN_PRIVILEGED},
    {"grace", 0, true, RUN_GRACE},
    {"detach", 'd', false, RUN_DETACH},
    {"rm", 0, false, RUN_RM},
    {"interactive", 'i', false, RUN_INTERACTIVE},
    {"help", 'h', false, RUN_HELP},
    {"cpu-limit", 0, true, RUN_CPU_LIMIT},
    {"mem-limit", 0, true, RUN_MEM_LIMIT},
    /* berth's global options, accepted here too (before IMAGE). */
    {"addr", 0, true, RUN_ADDR},
    {"token_file", 0, true, RUN_TOKEN_FILE},
    {NULL, 0, false, 0},
};

/* Grows *array by one element of size bytes and returns the new slot. */
static void *push(void *array_ptr, size_t *count, size_t size) {
  void **array = array_ptr;
  *array = berth_realloc(*array, (*count + 1) * size);
  void *slot = (char *)*array + *count * size;
  memset(slot, 0, size);
  (*count)++;
  return slot;
}

static int add_env(berth_run_opts *o, const char *text, berth_error *err) {
  berth_env_var var;
  bool found = false;
  int ret = berth_cli_parse_env(text, &var, &found, err);
  if (ret < 0 || !found) return ret;
  *(berth_env_var *)push(&o->env, &o->n_env, sizeof(var)) = var;
  return 0;
}

static int add_volume(berth_run_opts *o, const char *text, berth_error *err) {
  berth_volume vol;
  int ret = berth_cli_parse_volume(text, &vol, err);
  if (ret < 0) return ret;
  *(berth_volume *)push(&o->volumes, &o->n_volumes, sizeof(vol)) = vol;
  return 0;
}

static int add_port(berth_run_opts *o, const char *text, berth_error *err) {
  berth_port port;
  int ret = berth_cli_parse_port(text, &port, err);
  if (ret < 0) return ret;
  *(berth_port *)push(&o->ports, &o->n_ports, sizeof(port)) = port;
  return 0;
}

static int apply_run_option(berth_run_opts *o, int id, const char *value, berth_error *err) {
  switch (id) {
    case RUN_NAME:
      o->name = value;
      return 0;
    case RUN_CPUS:
      o->has_cpus = true;
      return berth_cli_parse_positive(value, "--cpus", &o->cpus, err);
    case RUN_MEM:
      o->has_mem = true;
      return berth_cli_parse_positive(value, "--mem", &o->mem_mb, err);
    case RUN_ENV:
      return add_env(o, value, err);
    case RUN_VOLUME:
      return add_volume(o, value, err);
    case RUN_NETWORK:
      return berth_cli_parse_network(value, &o->network, err);
    case RUN_PUBLISH:
      return add_port(o, value, err);
    case RUN_FORCE_PULL:
      o->force_pull = true;
      return 0;
    case RUN_PRIVILEGED:
      o->privileged = true;
      return 0;
    case RUN_GRACE:
      o->has_grace = true;
      return berth_duration_parse(value, &o->grace_ns, err) < 0 ? berth_error_prefix(err, "--grace") : 0;
    case RUN_DETACH:
      o->detach = true;
      return 0;
    case RUN_RM:
      o->remove = true;
      return 0;
    case RUN_INTERACTIVE:
      o->interactive = true;
      return 0;
    case RUN_HELP:
      o->help = true;
      return 0;
    case RUN_CPU_LIMIT:
      o->has_cpus_limit = true;
      return berth_cli_parse_limit(value, "--cpu-limit", &o->cpus_limit, err);
    case RUN_MEM_LIMIT:
      o->has_mem_limit = true;
      return berth_cli_parse_limit(value, "--mem-limit", &o->mem_limit_mb, err);
    case RUN_ADDR:
      o->addr = value;
      return 0;
    case RUN_TOKEN_FILE:
      o->token_file = value;
      return 0;
    default:
      return berth_error_set(err, BERTH_EINTERNAL, "unhandled run option %d", id);
  }
}

static int check_run(berth_run_opts *o, berth_error *err) {
  if (!o->image) return berth_error_set(err, BERTH_EINVAL, "run needs an IMAGE");
  if (!*o->image) return berth_error_set(err, BERTH_EINVAL, "empty IMAGE");
  if (o->name && !berth_cli_valid_id(o->name))
    return berth_error_set(err, BERTH_EINVAL,
                           "invalid --name '%s': use 1-64 of [A-Za-z0-9_.-], "
                           "starting with a letter or digit",
                           o->name);
  /* berthd keeps no auto-remove flag, so --rm is done by this process
   * after the end, which a detached run never sees. */
  if (o->remove && o->detach) return berth_error_set(err, BERTH_EINVAL, "--rm and -d cannot be combined");
  /* Port mappings only mean something on docker's bridge (as in Mesos). */
  if (o->n_ports > 0 && !o->network) o->network = "BRIDGE";
  return 0;
}

int berth_cli_parse_run(int argc, char **argv, berth_run_opts *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  berth_args args;
  berth_args_init(&args, argc, argv);
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, run_options, &id, &value, err);
    if (kind < 0) return kind;
    if (kind == BERTH_ARG_END) break;
    if (kind == BERTH_ARG_OPERAND) {
      out->image = value;
      out->cmd = argv + args.index;
      out->n_cmd = (size_t)(argc - args.index);
      break;
    }
    int ret = apply_run_option(out, id, value, err);
    if (ret < 0) return ret;
  }
  return out->help ? 0 : check_run(out, err);
}

void berth_run_opts_clear(berth_run_opts *opts) {
  for (size_t i = 0; i < opts->n_env; i++) {
    free(opts->env[i].name);
    free(opts->env[i].value);
  }
  for (size_t i = 0; i < opts->n_volumes; i++) {
    free(opts->volumes[i].host_path);
    free(opts->volumes[i].container_path);
  }
  free(opts->env);
  free(opts->volumes);
  free(opts->ports);
  memset(opts, 0, sizeof(*opts));
}
