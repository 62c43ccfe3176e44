/* Fuzz target: image reference validation (berth_image_ref_validate) and
 * the split berthd makes of a valid one for pulls (berth_docker_split_ref).
 *
 * The oracle is Docker's own grammar (distribution/reference, the version
 * docker 20.10 uses), written here as a POSIX regular expression, plus its
 * two extra rules (a name is at most 255 characters; a first component that
 * is not a registry host must be lower case).  Every reference berth
 * accepts must be one Docker accepts: anything else reaches dockerd
 * unchecked and fails a launch late (500 instead of 400), and
 * berth_docker_image_inspect puts the reference into a URL path unescaped.
 *
 * Berth is looser than Docker in a few known ways (see KNOWN below); they
 * are tolerated unless BERTH_FUZZ_STRICT=1, so the fuzz smoke run stays a
 * regression check while they wait for a fix.  Everything else, and the
 * split's consistency, always aborts. */
#include <regex.h>
#include <stdbool.h>

#include "containerizer/spec.h"
#include "docker/api.h"
#include "fuzz_util.h"

#define COMP "[a-z0-9]+(([._]|__|-*)[a-z0-9]+)*"
#define DCOMP "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
#define DOMAIN DCOMP "(\\." DCOMP ")*(:[0-9]+)?"
#define NAME "(" DOMAIN "/)?" COMP "(/" COMP ")*"
#define TAG "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
/* digest.Parse then wants an algorithm it knows, with lower-case hex of
 * the algorithm's length. */
#define DIGEST "(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})"
#define REFERENCE "^(" NAME ")(:" TAG ")?(@" DIGEST ")?$"

static regex_t reference_re;
static bool strict;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  if (regcomp(&reference_re, REFERENCE, REG_EXTENDED) != 0) abort();
  const char *s = getenv("BERTH_FUZZ_STRICT");
  strict = s && !strcmp(s, "1");
  return 0;
}

static bool is_domain(const char *first, size_t n) {
  return memchr(first, '.', n) || memchr(first, ':', n) || (n == 9 && !strncmp(first, "localhost", 9));
}

/* name_limit: apply NameTotalLengthMax (K4 below). */
static bool docker_accepts(const char *ref, bool name_limit) {
  regmatch_t m[2];
  if (regexec(&reference_re, ref, 2, m, 0) != 0) return false;
  if (name_limit && m[1].rm_eo - m[1].rm_so > 255) return false;
  const char *slash = strchr(ref, '/');
  if (slash && (size_t)(slash - ref) < (size_t)m[1].rm_eo && !is_domain(ref, (size_t)(slash - ref)))
    for (const char *p = ref; p < slash; p++)
      if (*p >= 'A' && *p <= 'Z') return false; /* remote name must be lower case */
  return true;
}

/* KNOWN looseness of berth_image_ref_validate (src/containerizer/spec.c),
 * undone here so the rest of the reference can still be checked.  (K1, a
 * registry host of any run of [A-Za-z0-9.-] such as "..", is fixed and
 * checked: ".." would walk up the unescaped /images/<ref>/json URL.)
 *   K2 path_component_valid() lets different separators follow each
 *      other ("a.-b", "a._b", "a-_b");
 *   K3 any digest algorithm and hex length >= 32 pass ("md5:<32 hex>");
 *   K4 no 255-character limit on the name (checked without it).
 * repair() writes the reference with K2 and K3 undone. */
static char *repair(const char *ref) {
  size_t n = strlen(ref);
  char *out = malloc(n + 200);
  if (!out) abort();
  size_t o = 0;
  const char *at = strchr(ref, '@');
  const char *end = at ? at : ref + n;
  const char *last_slash = NULL;
  for (const char *p = ref; p < end; p++)
    if (*p == '/') last_slash = p;
  const char *tag = NULL;
  for (const char *p = last_slash ? last_slash : ref; p < end; p++)
    if (*p == ':') tag = p;
  const char *name_end = tag ? tag : end;
  const char *p = ref;
  const char *slash = memchr(ref, '/', (size_t)(name_end - ref));
  if (slash && is_domain(ref, (size_t)(slash - ref))) { /* kept as is */
    o = (size_t)(slash + 1 - ref);
    memcpy(out, ref, o);
    p = slash + 1;
  }
  while (p < name_end) { /* K2: a run of mixed separators becomes one '-' */
    if (*p == '.' || *p == '_' || *p == '-') {
      const char *run = p;
      bool mixed = false;
      while (p < name_end && (*p == '.' || *p == '_' || *p == '-')) mixed |= *p++ != *run;
      if (mixed) {
        out[o++] = '-';
      } else {
        memcpy(out + o, run, (size_t)(p - run));
        o += (size_t)(p - run);
      }
    } else {
      out[o++] = *p++;
    }
  }
  if (tag) {
    memcpy(out + o, tag, (size_t)(end - tag));
    o += (size_t)(end - tag);
  }
  if (at) { /* K3 */
    static const char d[] = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    memcpy(out + o, d, sizeof(d) - 1);
    o += sizeof(d) - 1;
  }
  out[o] = '\0';
  return out;
}

static void check_split(const char *ref) {
  char *repo = NULL, *tag = NULL;
  berth_docker_split_ref(ref, &repo, &tag);
  FZ_CHECK(repo && tag && repo[0] && tag[0], "split '%s' -> '%s' '%s'", ref, repo, tag);
  size_t rn = strlen(repo);
  FZ_CHECK(!strncmp(ref, repo, rn), "repo '%s' is not a prefix of '%s'", repo, ref);
  if (ref[rn] == '\0') {
    FZ_CHECK(!strcmp(tag, "latest"), "no tag in '%s' but tag '%s'", ref, tag);
  } else {
    FZ_CHECK((ref[rn] == ':' || ref[rn] == '@') && !strcmp(ref + rn + 1, tag), "split '%s' -> '%s' '%s'", ref, repo,
             tag);
    FZ_CHECK(!strchr(repo, '@'), "repo '%s' keeps a digest", repo);
  }
  free(repo);
  free(tag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 600) return 0; /* berth refuses > 512 before looking */
  char *ref = fz_cstr(data, size);
  berth_error err = {0};
  if (berth_image_ref_validate(ref, &err) == 0) {
    for (const char *p = ref; *p; p++)
      FZ_CHECK(
          (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._-/:@+", *p),
          "accepted '%s' has byte 0x%02x", ref, (unsigned char)*p);
    check_split(ref);
    if (!docker_accepts(ref, true)) {
      FZ_CHECK(!strict, "berth accepts '%s', docker's grammar does not", ref);
      char *fixed = repair(ref);
      FZ_CHECK(docker_accepts(fixed, false), "berth accepts '%s', docker's grammar does not (nor '%s')", ref, fixed);
      free(fixed);
    }
  } else {
    FZ_CHECK(err.code == BERTH_EINVAL && strstr(err.msg, "container.docker.image"), "refusal '%s'", err.msg);
  }
  free(ref);
  return 0;
}
