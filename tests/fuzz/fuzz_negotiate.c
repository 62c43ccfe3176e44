/* Fuzz target: what berthd takes from dockerd's GET /version and from an
 * image reference before it builds Docker API paths.
 *
 * - berth_docker_negotiate: the chosen version is always "MAJOR.MINOR"
 *   between BERTH_DOCKER_API_MIN and _MAX, whatever "ApiVersion" said, and
 *   fits the 16-byte buffer berthd keeps it in (src/daemon/daemon.c); a
 *   version it cannot use is an error with a message.
 * - berth_docker_split_ref on any string (it is only called on validated
 *   references, but must not read out of bounds on others): repo and tag
 *   are non-empty pieces of the input. */
#include <stdio.h>

#include "docker/api.h"
#include "fuzz_util.h"

static int parse(const char *v, int *major, int *minor) {
  char rest;
  return sscanf(v, "%d.%d%c", major, minor, &rest) == 2 ? 0 : -1;
}

static int cmp(int amaj, int amin, int bmaj, int bmin) {
  return amaj != bmaj ? (amaj < bmaj ? -1 : 1) : (amin < bmin ? -1 : amin > bmin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fz_cstr(data, size);
  char out[16];
  memset(out, 'x', sizeof(out));
  berth_error err = {0};
  if (berth_docker_negotiate(size ? text : NULL, out, sizeof(out), &err) == 0) {
    FZ_CHECK(memchr(out, '\0', sizeof(out)), "version not terminated");
    int maj, min, lo_maj, lo_min, hi_maj, hi_min;
    FZ_CHECK(parse(out, &maj, &min) == 0, "chose '%s' for '%s'", out, text);
    parse(BERTH_DOCKER_API_MIN, &lo_maj, &lo_min);
    parse(BERTH_DOCKER_API_MAX, &hi_maj, &hi_min);
    FZ_CHECK(cmp(maj, min, lo_maj, lo_min) >= 0 && cmp(maj, min, hi_maj, hi_min) <= 0, "chose '%s' for '%s'", out,
             text);
  } else {
    FZ_CHECK(err.code == BERTH_EDOCKER && err.msg[0], "refusal code %d", err.code);
  }

  char *repo = NULL, *tag = NULL;
  berth_docker_split_ref(text, &repo, &tag);
  FZ_CHECK(repo && tag, "split gave NULL");
  FZ_CHECK(!strncmp(text, repo, strlen(repo)), "repo '%s' not a prefix of '%s'", repo, text);
  free(repo);
  free(tag);
  free(text);
  return 0;
}
