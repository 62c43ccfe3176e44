/* Unit tests for the fetcher: URI parsing, the cache's LRU bookkeeping,
 * safe extraction of hostile archives, and a local fetch on a loop. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "testutil.h"

#include "daemon/flags.h"
#include "fetcher/cache.h"
#include "fetcher/fetcher.h"
#include "fetcher/place.h"
#include "util/alloc.h"

static void parse_ok(const char *value, berth_uri_kind want_kind, const char *want_path, const char *want_name) {
  berth_uri_kind kind;
  char *path, *name;
  berth_error err = {0};
  if (berth_fetch_uri_parse(value, &kind, &path, &name, &err) < 0) fail_msg("'%s': %s", value, err.msg);
  assert_int_equal(kind, want_kind);
  if (want_path)
    assert_string_equal(path, want_path);
  else
    assert_null(path);
  assert_string_equal(name, want_name);
  free(path);
  free(name);
}

static void uris_of_every_kind_parse_to_a_name(void **state) {
  (void)state;
  parse_ok("http://127.0.0.1:8000/app.tar.gz", BERTH_URI_HTTP, NULL, "app.tar.gz");
  parse_ok("HTTPS://example.org/a/b/c.zip?x=1#frag", BERTH_URI_HTTP, NULL, "c.zip");
  parse_ok("http://127.0.0.1:8000/dir/", BERTH_URI_HTTP, NULL, "");
  parse_ok("http://127.0.0.1:8000", BERTH_URI_HTTP, NULL, "");
  parse_ok("file:///srv/files/tool", BERTH_URI_LOCAL, "/srv/files/tool", "tool");
  parse_ok("/srv/files/data.tar", BERTH_URI_LOCAL, "/srv/files/data.tar", "data.tar");
}

static void unknown_schemes_and_bad_uris_are_refused(void **state) {
  (void)state;
  const char *bad[] = {"ftp://host/x", "relative/path", "",           "file://host/x",
                       "http:///x",    "http://h/a\nb", "hdfs://nn/x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_uri_kind kind;
    char *path, *name;
    berth_error err = {0};
    if (berth_fetch_uri_parse(bad[i], &kind, &path, &name, &err) == 0) fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(err.code, BERTH_EINVAL);
  }
}

static void output_file_must_be_a_plain_name(void **state) {
  (void)state;
  berth_error err = {0};
  berth_fetch_uri ok = {.value = "http://h/x", .output_file = "renamed"};
  assert_int_equal(berth_fetch_uri_check(&ok, &err), 0);
  const char *bad[] = {"a/b", "..", ".", "", "/etc/passwd", "stdout", "fetch.log"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_fetch_uri u = {.value = "http://h/x", .output_file = bad[i]};
    if (berth_fetch_uri_check(&u, &err) == 0) fail_msg("output_file '%s' was accepted", bad[i]);
  }
  berth_fetch_uri noname = {.value = "http://h/"};
  assert_int_equal(berth_fetch_uri_check(&noname, &err), BERTH_EINVAL);
  assert_non_null(strstr(err.msg, "output_file"));
}

static void cache_evicts_least_recently_used_first_and_spares_busy_entries(void **state) {
  (void)state;
  berth_cache cache;
  berth_cache_init(&cache, 100);
  berth_cache_entry *a = berth_cache_add(&cache, "a");
  berth_cache_set_ready(&cache, a, 40);
  berth_cache_entry *b = berth_cache_add(&cache, "b");
  berth_cache_set_ready(&cache, b, 40);
  assert_null(berth_cache_victim(&cache)); /* 80 of 100 */
  berth_cache_touch(&cache, a);            /* b is now the oldest */
  berth_cache_entry *c = berth_cache_add(&cache, "c");
  assert_null(berth_cache_victim(&cache)); /* a download in flight counts nothing yet */
  berth_cache_set_ready(&cache, c, 40);
  assert_ptr_equal(berth_cache_victim(&cache), b);
  b->refs = 1; /* being copied: spared, the next oldest goes */
  assert_ptr_equal(berth_cache_victim(&cache), a);
  berth_cache_drop(&cache, a);
  assert_int_equal(cache.used, 80);
  assert_null(berth_cache_victim(&cache));
  assert_ptr_equal(berth_cache_find(&cache, "c"), c);
  assert_null(berth_cache_find(&cache, "a"));
  berth_cache_clear(&cache);
  assert_int_equal(cache.used, 0);
}

static void an_entry_larger_than_the_cache_goes_once_unused(void **state) {
  (void)state;
  berth_cache cache;
  berth_cache_init(&cache, 10);
  berth_cache_entry *big = berth_cache_add(&cache, "big");
  berth_cache_set_ready(&cache, big, 50);
  big->refs = 1;
  assert_null(berth_cache_victim(&cache));
  big->refs = 0;
  assert_ptr_equal(berth_cache_victim(&cache), big);
  berth_cache_clear(&cache);
}

static void member_names_are_normalised_and_escapes_refused(void **state) {
  (void)state;
  char out[256];
  berth_error err = {0};
  assert_int_equal(berth_place_member_name("./a//b/./c", out, sizeof(out), &err), 0);
  assert_string_equal(out, "a/b/c");
  assert_int_equal(berth_place_member_name("./", out, sizeof(out), &err), 0);
  assert_string_equal(out, "");
  assert_int_equal(berth_place_member_name("../x", out, sizeof(out), &err), BERTH_EINVAL);
  assert_int_equal(berth_place_member_name("a/../../x", out, sizeof(out), &err), BERTH_EINVAL);
  assert_int_equal(berth_place_member_name("/etc/passwd", out, sizeof(out), &err), BERTH_EINVAL);
  assert_true(berth_place_is_archive("a.tar.gz"));
  assert_true(berth_place_is_archive("a.ZIP"));
  assert_false(berth_place_is_archive("a.gz"));
  assert_false(berth_place_is_archive("tar"));
}

/* --- archives written with libarchive into a temp file ------------------------ */

typedef struct member {
  const char *name;
  mode_t type;
  const char *data; /* regular files */
  const char *link; /* symlink target */
  const char *hard; /* hard link target */
} member;

static int write_tar(const char *path, const member *m, size_t n) {
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  if (archive_write_open_filename(a, path) != ARCHIVE_OK) fail_msg("open %s", path);
  for (size_t i = 0; i < n; i++) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, m[i].name);
    archive_entry_set_filetype(e, m[i].type);
    archive_entry_set_perm(e, 0644);
    if (m[i].link) archive_entry_set_symlink(e, m[i].link);
    if (m[i].hard) archive_entry_set_hardlink(e, m[i].hard);
    size_t len = m[i].data ? strlen(m[i].data) : 0;
    archive_entry_set_size(e, (la_int64_t)len);
    archive_write_header(a, e);
    if (len) archive_write_data(a, m[i].data, len);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  return fd;
}

typedef struct scratch {
  char root[64]; /* holds sandbox/ and outside/ */
  char sandbox[96], outside[96], archive[96];
} scratch;

static void scratch_make(scratch *s) {
  snprintf(s->root, sizeof(s->root), "/tmp/berth-test-fetcher-XXXXXX");
  assert_non_null(mkdtemp(s->root));
  snprintf(s->sandbox, sizeof(s->sandbox), "%s/sandbox", s->root);
  snprintf(s->outside, sizeof(s->outside), "%s/outside", s->root);
  snprintf(s->archive, sizeof(s->archive), "%s/a.tar.gz", s->root);
  assert_int_equal(mkdir(s->sandbox, 0755), 0);
  assert_int_equal(mkdir(s->outside, 0755), 0);
}

static void scratch_remove(scratch *s) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->root);
  assert_int_equal(system(cmd), 0);
}

static int extract(scratch *s, const member *m, size_t n, berth_error *err) {
  int src = write_tar(s->archive, m, n);
  int dfd = open(s->sandbox, O_RDONLY | O_DIRECTORY);
  atomic_bool cancel;
  atomic_init(&cancel, false);
  uint64_t written;
  int rc = berth_place_extract(dfd, src, 0, &cancel, &written, err);
  close(dfd);
  close(src);
  return rc;
}

static bool exists(const char *dir, const char *name) {
  char p[256];
  struct stat st;
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return lstat(p, &st) == 0;
}

static void a_plain_archive_extracts_with_inside_links(void **state) {
  (void)state;
  scratch s;
  scratch_make(&s);
  member m[] = {
      {"./", AE_IFDIR, NULL, NULL, NULL},
      {"dir/", AE_IFDIR, NULL, NULL, NULL},
      {"dir/file", AE_IFREG, "hello", NULL, NULL},
      {"dir/rel", AE_IFLNK, NULL, "file", NULL},
      {"up", AE_IFLNK, NULL, "dir/../dir/file", NULL},
      {"hard", AE_IFREG, NULL, NULL, "dir/file"},
  };
  berth_error err = {0};
  if (extract(&s, m, sizeof(m) / sizeof(m[0]), &err) < 0) fail_msg("%s", err.msg);
  assert_true(exists(s.sandbox, "dir/file"));
  assert_true(exists(s.sandbox, "dir/rel"));
  assert_true(exists(s.sandbox, "hard"));
  scratch_remove(&s);
}

static void hostile_members_are_refused_and_nothing_lands_outside(void **state) {
  (void)state;
  const member cases[][2] = {
      {{"../outside/dotdot", AE_IFREG, "x", NULL, NULL}},
      {{"/tmp/absolute-berth-test", AE_IFREG, "x", NULL, NULL}},
      {{"out", AE_IFLNK, NULL, "../outside", NULL}, {"out/through", AE_IFREG, "x", NULL, NULL}},
      {{"abs", AE_IFLNK, NULL, "/", NULL}},
      {{"hard", AE_IFREG, NULL, NULL, "../outside/victim"}},
      {{"fifo", AE_IFIFO, NULL, NULL, NULL}},
      {{"dev", AE_IFCHR, NULL, NULL, NULL}},
      {{"blk", AE_IFBLK, NULL, NULL, NULL}},
  };
  const size_t counts[] = {1, 1, 2, 1, 1, 1, 1, 1};
  for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
    scratch s;
    scratch_make(&s);
    char victim[128];
    snprintf(victim, sizeof(victim), "%s/victim", s.outside);
    int v = open(victim, O_WRONLY | O_CREAT, 0644);
    assert_true(v >= 0);
    close(v);
    berth_error err = {0};
    if (extract(&s, cases[i], counts[i], &err) == 0) fail_msg("case %zu: hostile archive was extracted", i);
    assert_int_equal(err.code, BERTH_EINVAL);
    assert_false(exists(s.outside, "dotdot"));
    assert_false(exists(s.outside, "through"));
    assert_false(exists(s.sandbox, "fifo"));
    assert_false(exists(s.sandbox, "dev"));
    assert_false(exists(s.sandbox, "hard"));
    struct stat st;
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    scratch_remove(&s);
  }
  struct stat st;
  assert_int_not_equal(stat("/tmp/absolute-berth-test", &st), 0);
}

static void copy_replaces_a_symlink_instead_of_writing_through_it(void **state) {
  (void)state;
  scratch s;
  scratch_make(&s);
  char victim[128], link[128];
  snprintf(victim, sizeof(victim), "%s/victim", s.outside);
  snprintf(link, sizeof(link), "%s/tool", s.sandbox);
  int v = open(victim, O_WRONLY | O_CREAT, 0644);
  close(v);
  assert_int_equal(symlink(victim, link), 0);
  int src = open("/bin/sh", O_RDONLY);
  int dfd = open(s.sandbox, O_RDONLY | O_DIRECTORY);
  atomic_bool cancel;
  atomic_init(&cancel, false);
  berth_error err = {0};
  if (berth_place_copy(dfd, src, "tool", true, 0, &cancel, &err) < 0) fail_msg("%s", err.msg);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0755);
  assert_int_equal(stat(victim, &st), 0);
  assert_int_equal(st.st_size, 0);
  /* a size cap leaves no partial file */
  assert_int_equal(lseek(src, 0, SEEK_SET), 0);
  assert_int_equal(berth_place_copy(dfd, src, "capped", false, 1, &cancel, &err), BERTH_EINVAL);
  assert_false(exists(s.sandbox, "capped"));
  close(dfd);
  close(src);
  scratch_remove(&s);
}

/* --- a fetch on a loop ---------------------------------------------------------- */

typedef struct fetch_result {
  int calls, rc;
  berth_error err;
  berth_fetch_stats stats;
} fetch_result;

static void done_cb(int rc, const berth_error *err, const berth_fetch_stats *stats, void *data) {
  fetch_result *r = data;
  r->calls++;
  r->rc = rc;
  if (err) r->err = *err;
  r->stats = *stats;
}

static void local_fetch_runs_on_the_pool_and_the_loop_closes_cleanly(void **state) {
  (void)state;
  scratch s;
  scratch_make(&s);
  char cache[128], src[128], allowed[128];
  snprintf(cache, sizeof(cache), "%s/cache", s.root);
  snprintf(src, sizeof(src), "%s/tool.sh", s.outside);
  snprintf(allowed, sizeof(allowed), "%s", s.outside);
  FILE *fp = fopen(src, "w");
  fputs("#!/bin/sh\necho hi\n", fp);
  fclose(fp);
  const char *allowed_list[] = {allowed, NULL};
  uv_loop_t loop;
  uv_loop_init(&loop);
  berth_fetcher_config config = {.cache_dir = cache, .cache_size = 1 << 20, .allowed_host_paths = allowed_list};
  berth_fetcher *f;
  berth_error err = {0};
  assert_int_equal(berth_fetcher_new(&loop, &config, &f, &err), 0);
  cleanup_free char *file_uri = berth_asprintf("file://%s", src);
  berth_fetch_uri uris[] = {{.value = file_uri, .executable = true}, {.value = src, .output_file = "copy"}};
  fetch_result r = {0};
  berth_fetcher_start(f, s.sandbox, uris, 2, done_cb, &r);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(r.calls, 1);
  if (r.rc < 0) fail_msg("%s", r.err.msg);
  assert_int_equal(r.stats.uris, 2);
  assert_true(exists(s.sandbox, "tool.sh"));
  assert_true(exists(s.sandbox, "copy"));
  assert_true(exists(s.sandbox, "fetch.log"));
  /* outside the allowed paths: refused, naming the URI */
  berth_fetch_uri denied[] = {{.value = "/etc/hostname"}};
  r = (fetch_result){0};
  berth_fetcher_start(f, s.sandbox, denied, 1, done_cb, &r);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(r.calls, 1);
  assert_true(r.rc < 0);
  assert_non_null(strstr(r.err.msg, "Failed to fetch '/etc/hostname'"));
  assert_non_null(strstr(r.err.msg, "--allowed_host_paths"));
  berth_fetcher_free(f);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  scratch_remove(&s);
}

static void fetcher_byte_sizes_parse_in_mesos_units(void **state) {
  (void)state;
  uint64_t n;
  berth_error err = {0};
  assert_int_equal(berth_bytes_parse("2GB", &n, &err), 0);
  assert_true(n == 2ull << 30);
  assert_int_equal(berth_bytes_parse("3KB", &n, &err), 0);
  assert_true(n == 3072);
  /* As Mesos's Bytes: a size always names its unit. */
  assert_int_equal(berth_bytes_parse("100", &n, &err), BERTH_EINVAL);
  assert_int_equal(berth_bytes_parse("0B", &n, &err), 0);
  assert_true(n == 0);
  assert_int_equal(berth_bytes_parse("-1GB", &n, &err), BERTH_EINVAL);
  assert_int_equal(berth_bytes_parse("2 GB", &n, &err), BERTH_EINVAL);
  assert_int_equal(berth_bytes_parse("GB", &n, &err), BERTH_EINVAL);
  assert_int_equal(berth_bytes_parse("99999999999TB", &n, &err), BERTH_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fetcher_byte_sizes_parse_in_mesos_units),
      cmocka_unit_test(uris_of_every_kind_parse_to_a_name),
      cmocka_unit_test(unknown_schemes_and_bad_uris_are_refused),
      cmocka_unit_test(output_file_must_be_a_plain_name),
      cmocka_unit_test(cache_evicts_least_recently_used_first_and_spares_busy_entries),
      cmocka_unit_test(an_entry_larger_than_the_cache_goes_once_unused),
      cmocka_unit_test(member_names_are_normalised_and_escapes_refused),
      cmocka_unit_test(a_plain_archive_extracts_with_inside_links),
      cmocka_unit_test(hostile_members_are_refused_and_nothing_lands_outside),
      cmocka_unit_test(copy_replaces_a_symlink_instead_of_writing_through_it),
      cmocka_unit_test(local_fetch_runs_on_the_pool_and_the_loop_closes_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
