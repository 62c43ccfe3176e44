/* Helpers shared by the libFuzzer targets (header-only, everything static).
 *
 * A target checks more than "no crash": FZ_CHECK states a property the
 * code under test promises, and a broken one aborts with the input's
 * story, which libFuzzer then saves as a crash file. */
#ifndef BERTH_TESTS_FUZZ_UTIL_H
#define BERTH_TESTS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_CHECK(cond, ...)                                                             \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "fuzz check failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                     \
      fputc('\n', stderr);                                                              \
      abort();                                                                          \
    }                                                                                   \
  } while (0)

/* The input as a C string (cut at its first NUL, as every caller of the
 * code under test passes C strings).  Caller frees. */
static inline char *fz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* Small deterministic generator for split points, seeded from the input. */
typedef struct fz_rng {
  uint64_t state;
} fz_rng;

static inline uint64_t fz_next(fz_rng *r) {
  /* splitmix64 */
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

#endif
