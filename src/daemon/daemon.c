#include "daemon/daemon.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "containerizer/config.h"
#include "containerizer/containerizer.h"
#include "containerizer/sandbox.h"
#include "containerizer/spec.h"
#include "docker/api.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"

/* dockerd is probed this often while it answers, and retried with backoff
 * up to the maximum while it does not. */
#define PROBE_INTERVAL_MS 5000
#define PROBE_BACKOFF_MIN_MS 250
#define PROBE_BACKOFF_MAX_MS 5000

typedef struct daemon_state {
  uv_loop_t *loop;
  berth_flags *flags;
  berth_store *store;
  berth_docker *docker;
  berth_fetcher *fetcher;
  berth_docker_auth auth;
  berth_containerizer *cz;
  berth_http_server *http;
  berth_api api;
  berth_gpu_pool gpus;
  berth_dns_defaults dns;
  char docker_version[16];
  char *agent_id;
  char *token;
  uv_timer_t probe;
  uint64_t backoff_ms;
  berth_docker_req *probe_req;
  uv_signal_t sigterm, sigint;
} daemon_state;

static void probe_cb(uv_timer_t *t);

static void version_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  daemon_state *d = data;
  d->probe_req = NULL;
  berth_error nerr = {0};
  if (rc == 0 && berth_docker_negotiate(json_string_value(json_object_get(answer, "ApiVersion")), d->docker_version,
                                        sizeof(d->docker_version), &nerr) == 0) {
    if (!d->api.docker_ok) log_info("dockerd answers at %s (API %s)", d->flags->docker_socket, d->docker_version);
    berth_docker_set_version(d->docker, d->docker_version);
    d->api.docker_ok = true;
    d->backoff_ms = PROBE_BACKOFF_MIN_MS;
    uv_timer_start(&d->probe, probe_cb, PROBE_INTERVAL_MS, 0);
    return;
  }
  if (d->api.docker_ok || d->backoff_ms == PROBE_BACKOFF_MIN_MS)
    log_warn("dockerd at %s: %s", d->flags->docker_socket, rc < 0 ? err->msg : nerr.msg);
  snprintf(d->api.docker_error, sizeof(d->api.docker_error), "%s", rc < 0 ? err->msg : nerr.msg);
  d->api.docker_ok = false;
  uv_timer_start(&d->probe, probe_cb, d->backoff_ms, 0);
  d->backoff_ms = d->backoff_ms * 2 > PROBE_BACKOFF_MAX_MS ? PROBE_BACKOFF_MAX_MS : d->backoff_ms * 2;
}

static void probe_cb(uv_timer_t *t) {
  daemon_state *d = t->data;
  if (!d->probe_req) d->probe_req = berth_docker_version_get(d->docker, version_cb, d);
}

static void stop_cb(uv_signal_t *s, int signum) {
  daemon_state *d = s->data;
  log_info("signal %d: shutting down; containers keep running", signum);
  berth_cz_stopping(d->cz); /* the waits it drops are not clients leaving */
  /* Streams end before the server stops and before the containerizer,
   * whose observer they are, goes. */
  berth_subscribers_free(d->api.subscribers);
  d->api.subscribers = NULL;
  berth_http_server_free(d->http);
  d->http = NULL;
  berth_cz_free(d->cz);
  d->cz = NULL;
  berth_fetcher_free(d->fetcher);
  d->fetcher = NULL;
  berth_docker_cancel(d->probe_req);
  d->probe_req = NULL;
  berth_docker_free(d->docker);
  d->docker = NULL;
  uv_close((uv_handle_t *)&d->probe, NULL);
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void recovered_cb(int rc, const berth_error *err, void *data) {
  daemon_state *d = data;
  if (rc < 0) log_warn("recovery waits for dockerd (%s); serving meanwhile", err->msg);
  berth_api_set_ready(&d->api);
}

/* The agent id: the flag, else the one kept in the store, else a new one. */
static int resolve_agent_id(daemon_state *d, berth_error *err) {
  cleanup_free char *stored = NULL;
  if (berth_store_meta_get(d->store, "agent_id", &stored, err) < 0) return err->code;
  const char *id = d->flags->agent_id ? d->flags->agent_id : stored;
  if (stored && strcmp(stored, id) && !d->flags->allow_agent_id_change)
    return berth_error_set(err, BERTH_EINVAL,
                           "--agent_id: '%s' differs from '%s' kept in the work dir (its containers would be out of "
                           "reach); pass --allow_agent_id_change to start anyway",
                           id, stored);
  char generated[24];
  if (!id) {
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) return berth_error_errno(err, errno, "getrandom");
    snprintf(generated, sizeof(generated), "a%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    id = generated;
  }
  /* It becomes part of docker names, "berth-<agent>.<id>": without a '.'
   * of its own, no two (agent, id) pairs can make the same name. */
  if (!berth_container_id_valid(id) || strlen(id) > 32 || strchr(id, '.'))
    return berth_error_set(err, BERTH_EINVAL, "--agent_id: '%s' must match [A-Za-z0-9][A-Za-z0-9_-]{0,31}", id);
  if ((!stored || strcmp(stored, id) != 0) && berth_store_meta_set(d->store, "agent_id", id, err) < 0) return err->code;
  d->agent_id = berth_strdup(id);
  return 0;
}

static int read_token(daemon_state *d, berth_error *err) {
  if (!d->flags->token_file) return 0;
  FILE *f = fopen(d->flags->token_file, "re");
  if (!f) return berth_error_errno(err, errno, "--token_file: open '%s'", d->flags->token_file);
  char buf[4097];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  bool more = fgetc(f) != EOF;
  fclose(f);
  /* A token cut short would let in whoever knows its prefix. */
  if (more)
    return berth_error_set(err, BERTH_EINVAL, "--token_file: '%s' is longer than 4096 bytes", d->flags->token_file);
  /* The token is compared as a C string: one holding a NUL would match
   * whoever knows the bytes before it. */
  if (memchr(buf, '\0', n))
    return berth_error_set(err, BERTH_EINVAL, "--token_file: '%s' holds a NUL byte; a token must be text",
                           d->flags->token_file);
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = '\0';
  if (n == 0) return berth_error_set(err, BERTH_EINVAL, "--token_file: '%s' is empty", d->flags->token_file);
  d->token = berth_strdup(buf);
  return 0;
}

static int prepare_work_dir(const char *work_dir, berth_error *err) {
  static const char *subdirs[] = {"meta", "sandboxes", "volumes", "docker/volumes"};
  for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
    cleanup_free char *p = berth_asprintf("%s/%s", work_dir, subdirs[i]);
    if (berth_mkdir_p(p, err) < 0) return berth_error_prefix(err, "--work_dir");
  }
  /* Closed before anything is written in it (recovery checks again). */
  if (berth_sandbox_close_work_dir(work_dir, err) < 0) return berth_error_prefix(err, "--work_dir");
  return 0;
}

/* Each running container holds a few fds (docs/design.md, "File
 * descriptors"); the usual soft limit of 1024 runs out near 250 of them.
 * The hard limit is what the administrator allows: take all of it. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
    log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    return;
  }
  if (rl.rlim_cur >= rl.rlim_max) {
    log_info("open file limit %llu (already the hard limit)", (unsigned long long)rl.rlim_cur);
    return;
  }
  rlim_t old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
    log_warn("raise open file limit from %llu to %llu: %s", (unsigned long long)old, (unsigned long long)rl.rlim_max,
             strerror(errno));
    return;
  }
  log_info("raised open file limit from %llu to %llu", (unsigned long long)old, (unsigned long long)rl.rlim_max);
}

static int start(daemon_state *d, berth_error *err) {
  berth_flags *f = d->flags;
  if (f->work_dir[0] != '/')
    return berth_error_set(err, BERTH_EINVAL, "--work_dir: '%s' must be absolute", f->work_dir);
  /* No ':' either: the links kept there exist to keep one out of docker's volume syntax. */
  if (f->runtime_dir[0] != '/' || strchr(f->runtime_dir, ':'))
    return berth_error_set(err, BERTH_EINVAL, "--runtime_dir: '%s' must be absolute and hold no ':'", f->runtime_dir);
  if (f->sandbox_directory[0] != '/')
    return berth_error_set(err, BERTH_EINVAL, "--sandbox_directory: '%s' must be absolute", f->sandbox_directory);
  for (char **p = f->allowed_host_paths; p && *p; p++)
    if ((*p)[0] != '/') return berth_error_set(err, BERTH_EINVAL, "--allowed_host_paths: '%s' must be absolute", *p);
  bool runtime_allowed = false;
  for (char **r = f->docker_allowed_runtimes; r && *r; r++) {
    const char *c = *r;
    while (*c && (isalnum((unsigned char)*c) || strchr("._-", *c))) c++;
    if (*c) return berth_error_set(err, BERTH_EINVAL, "--docker_allowed_runtimes: '%s' is not a runtime name", *r);
    runtime_allowed |= f->docker_runtime && !strcmp(*r, f->docker_runtime);
  }
  if (f->docker_port_host_ip && !berth_spec_valid_ip(f->docker_port_host_ip))
    return berth_error_set(err, BERTH_EINVAL, "--docker_port_host_ip: '%s' is not an IPv4 or IPv6 address",
                           f->docker_port_host_ip);
  if (!runtime_allowed)
    return berth_error_set(err, BERTH_EINVAL, "--docker_runtime: '%s' is not in --docker_allowed_runtimes",
                           f->docker_runtime ? f->docker_runtime : "");
  if (berth_dns_defaults_parse(f->default_container_dns, &d->dns, err) < 0) return err->code;
  if (f->subscribe_heartbeat_interval_ns < 1000000)
    return berth_error_set(err, BERTH_EINVAL, "--subscribe_heartbeat_interval: must be at least 1ms");
  if (f->subscriber_queue_size < 1024)
    return berth_error_set(err, BERTH_EINVAL, "--subscriber_queue_size: must be at least 1KB");
  for (char **p = f->image_gc_excluded_images; p && *p; p++)
    if (berth_image_ref_validate(*p, err) < 0)
      return berth_error_set(err, BERTH_EINVAL, "--image_gc_excluded_images: '%s' is not a valid image reference", *p);
  if (prepare_work_dir(f->work_dir, err) < 0 || read_token(d, err) < 0) return err->code;
  cleanup_free char *db = berth_asprintf("%s/meta/berth.db", f->work_dir);
  if (berth_store_open(db, &d->store, err) < 0 || resolve_agent_id(d, err) < 0) return err->code;
  /* After the checks that refuse to start, whose one line must be all a
   * refused start prints. */
  raise_fd_limit();
  if (berth_sandbox_prepare_runtime_dir(f->runtime_dir, d->agent_id, err) < 0) return err->code;

  if (berth_gpu_pool_init(&d->gpus, f->nvidia_gpu_devices, f->nvidia_device_root, err) < 0) return err->code;
  d->docker = berth_docker_new(d->loop, f->docker_socket);
  cleanup_free char *cache_dir =
      f->fetcher_cache_dir ? berth_strdup(f->fetcher_cache_dir) : berth_asprintf("%s/fetcher-cache", f->work_dir);
  if (cache_dir[0] != '/')
    return berth_error_set(err, BERTH_EINVAL, "--fetcher_cache_dir: '%s' must be absolute", cache_dir);
  berth_fetcher_config fetcher_config = {
      .cache_dir = cache_dir,
      .cache_size = f->fetcher_cache_size,
      .max_size = f->fetcher_max_size,
      .timeout_ns = f->fetcher_timeout_ns,
      .stall_timeout_ns = f->fetcher_stall_timeout_ns,
      .allowed_host_paths = (const char *const *)f->allowed_host_paths,
  };
  if (berth_fetcher_new(d->loop, &fetcher_config, &d->fetcher, err) < 0) return err->code;
  if (f->docker_config && berth_docker_auth_load(f->docker_config, &d->auth, err) < 0) return err->code;
  if (f->docker_config) log_info("registry credentials for %zu registries from %s", d->auth.n, f->docker_config);
  berth_cz_config config = {
      .work_dir = f->work_dir,
      .runtime_dir = f->runtime_dir,
      .agent_id = d->agent_id,
      .sandbox_directory = f->sandbox_directory,
      .allowed_host_paths = (const char *const *)f->allowed_host_paths,
      .allow_privileged = f->allow_privileged,
      .cgroups_enable_cfs = f->cgroups_enable_cfs,
      .docker_kill_orphans = f->docker_kill_orphans,
      .docker_stop_timeout_ns = f->docker_stop_timeout_ns,
      .docker_remove_delay_ns = f->docker_remove_delay_ns,
      .proc_root = "/proc",
      .cgroup_root = "/sys/fs/cgroup",
      .gpus = &d->gpus,
      .allowed_runtimes = (const char *const *)f->docker_allowed_runtimes,
      .docker_runtime = f->docker_runtime,
      .docker_port_host_ip = f->docker_port_host_ip,
      .log_rotation = {.max_size = f->log_max_size, .max_files = f->log_max_files},
      .default_dns = &d->dns,
      .fetcher = d->fetcher,
      .docker_auth = f->docker_config ? &d->auth : NULL,
      .docker_pull_timeout_ns = f->docker_pull_timeout_ns,
      .bound_client_timeout_ns = f->bound_client_timeout_ns,
      .image_gc_interval_ns = f->image_gc_interval_ns,
      .image_gc_threshold = f->image_gc_threshold,
      .image_gc_min_age_ns = f->image_gc_min_age_ns,
      .image_gc_excluded = (const char *const *)f->image_gc_excluded_images,
  };
  d->cz = berth_cz_new(d->loop, d->docker, d->store, &config);
  d->api = (berth_api){.loop = d->loop,
                       .cz = d->cz,
                       .work_dir = f->work_dir,
                       .flags = berth_flags_json(f),
                       .docker_version = d->docker_version};
  json_object_set_new(d->api.flags, "agent_id", json_string(d->agent_id));
  berth_subscribe_config subscribe = {
      .heartbeat_ms = (uint64_t)(f->subscribe_heartbeat_interval_ns / 1000000),
      .queue_size = f->subscriber_queue_size > SIZE_MAX ? SIZE_MAX : (size_t)f->subscriber_queue_size,
  };
  d->api.subscribers = berth_subscribers_new(d->loop, d->cz, &subscribe);

  d->http = berth_http_server_new(d->loop, berth_api_handle, &d->api);
  berth_http_server_on_abandon(d->http, berth_api_abandon);
  berth_http_server_on_respond(d->http, berth_api_metrics_respond_cb);
  for (char **l = f->listen; l && *l; l++)
    if (berth_http_server_listen(d->http, *l, d->token, f->socket_group, err) < 0) return err->code;

  if (berth_cz_recover(d->cz, recovered_cb, d, err) < 0) return err->code;

  uv_timer_init(d->loop, &d->probe);
  d->probe.data = d;
  d->backoff_ms = PROBE_BACKOFF_MIN_MS;
  probe_cb(&d->probe);
  uv_signal_init(d->loop, &d->sigterm);
  uv_signal_init(d->loop, &d->sigint);
  d->sigterm.data = d->sigint.data = d;
  uv_signal_start(&d->sigterm, stop_cb, SIGTERM);
  uv_signal_start(&d->sigint, stop_cb, SIGINT);
  log_info("berthd %s: agent %s, work dir %s", BERTH_VERSION, d->agent_id, f->work_dir);
  return 0;
}

int berth_daemon_run(berth_flags *flags) {
  daemon_state d = {.loop = uv_default_loop(), .flags = flags};
  berth_error err = {0};
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(flags->log_level, "debug"))
    berth_log_set_level(BERTH_LOG_DEBUG);
  else if (!strcmp(flags->log_level, "warn"))
    berth_log_set_level(BERTH_LOG_WARN);
  else if (!strcmp(flags->log_level, "error"))
    berth_log_set_level(BERTH_LOG_ERROR);
  int code = 0;
  if (start(&d, &err) < 0) {
    fprintf(stderr, "berthd: %s\n", err.msg);
    code = 1;
    berth_subscribers_free(d.api.subscribers);
    berth_http_server_free(d.http);
    berth_cz_free(d.cz);
    berth_fetcher_free(d.fetcher);
    if (d.docker) berth_docker_free(d.docker);
    d.http = NULL;
  }
  uv_run(d.loop, UV_RUN_DEFAULT);
  /* EBUSY: a handle was never closed, a leak that shutdown should show. */
  int rc = uv_loop_close(d.loop);
  if (rc < 0) log_error("event loop: %s at exit (a handle is still open)", uv_strerror(rc));
  berth_store_close(d.store);
  json_decref(d.api.flags);
  free(d.api.deferred);
  berth_gpu_pool_free(&d.gpus);
  berth_dns_defaults_free(&d.dns);
  berth_docker_auth_free(&d.auth);
  free(d.agent_id);
  free(d.token);
  return code;
}
