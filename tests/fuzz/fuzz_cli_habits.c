/* Fuzz target: what `berth ps` and `berth run` read from a user's command
 * line: --format templates, --filter expressions, -p port mappings and
 * container id prefixes (src/client/ps.c, cli_args.c, ids.c).
 *
 * Properties: a format, filter or port is accepted or refused with
 * EINVAL and a message; an accepted format renders (and its header
 * builds) for a container of every shape below; an accepted port has
 * ports in 1..65535 and a host_ip that is empty or an address literal; a
 * prefix resolves to a container whose id starts with it, or fails with
 * ENOENT or EINVAL. */
#include <arpa/inet.h>

#include <jansson.h>

#include "client/cli_args.h"
#include "client/ids.h"
#include "client/ps.h"
#include "fuzz_util.h"

static json_t *samples;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  samples = json_loads(
      "[{\"container_id\": {\"value\": \"web-1\"}, \"stage\": \"RUNNING\", \"image\": \"busybox:local\","
      "  \"labels\": {\"labels\": [{\"key\": \"team\", \"value\": \"web\"}, {\"key\": 5}]}},"
      " {\"container_id\": {\"value\": \"web\"}, \"stage\": \"TERMINATED\", \"termination\": {\"state\":"
      "  \"TASK_FAILED\", \"exit_code\": 137, \"reason\": \"REASON_CONTAINER_LIMITATION_MEMORY\"}},"
      " {\"container_id\": 7, \"stage\": [], \"labels\": \"x\", \"termination\": {\"reason\": 3}},"
      " {}]",
      0, NULL);
  return 0;
}

static void check_format(const char *text) {
  berth_format *f = NULL;
  berth_error err = {0};
  if (berth_format_parse(text, &f, &err) < 0) {
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0] && !f, "format '%s': code %d", text, err.code);
    return;
  }
  FZ_CHECK(f != NULL, "format '%s' accepted without a result", text);
  size_t i;
  json_t *c;
  json_array_foreach(samples, i, c) {
    char *line = berth_format_render(f, c);
    FZ_CHECK(line != NULL, "format '%s' rendered NULL", text);
    free(line);
  }
  char *header = berth_format_header(f);
  FZ_CHECK(header != NULL, "format '%s': no header", text);
  free(header);
  berth_format_free(f);
}

static void check_filter(const char *text) {
  berth_filters f = {0};
  berth_error err = {0};
  if (berth_filters_add(&f, text, &err) < 0) {
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0] && f.n == 0, "filter '%s': code %d", text, err.code);
  } else {
    FZ_CHECK(f.n == 1, "filter '%s' gave %zu filters", text, f.n);
    size_t i;
    json_t *c;
    json_array_foreach(samples, i, c) berth_filters_match(&f, c);
  }
  berth_filters_clear(&f);
}

static void check_port(const char *text) {
  berth_port p;
  berth_error err = {0};
  if (berth_cli_parse_port(text, &p, &err) < 0) {
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0], "port '%s': code %d", text, err.code);
    return;
  }
  FZ_CHECK(p.host_port >= 1 && p.host_port <= 65535 && p.container_port >= 1 && p.container_port <= 65535,
           "port '%s' -> %d:%d", text, p.host_port, p.container_port);
  unsigned char addr[16];
  FZ_CHECK(!p.host_ip[0] || inet_pton(AF_INET, p.host_ip, addr) == 1 || inet_pton(AF_INET6, p.host_ip, addr) == 1,
           "port '%s' -> host_ip '%s'", text, p.host_ip);
}

static void check_prefix(const char *text) {
  json_t *c = NULL;
  berth_error err = {0};
  if (berth_ids_resolve(samples, text, &c, &err) < 0) {
    FZ_CHECK((err.code == BERTH_ENOENT || err.code == BERTH_EINVAL) && err.msg[0], "prefix '%s': code %d", text,
             err.code);
    return;
  }
  const char *id = json_string_value(json_object_get(json_object_get(c, "container_id"), "value"));
  FZ_CHECK(id && strncmp(id, text, strlen(text)) == 0, "prefix '%s' -> '%s'", text, id ? id : "(none)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 512) return 0;
  char *text = fz_cstr(data, size);
  check_format(text);
  check_filter(text);
  check_port(text);
  check_prefix(text);
  free(text);
  return 0;
}
