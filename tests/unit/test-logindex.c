/* Unit tests for containerizer/logindex: the record format round-trips;
 * records are buffered and reach the file on flush or when the buffer
 * fills; a torn last record and a foreign file are cut off at open; cover
 * adds one record for bytes a crash left without one and drops records
 * past what was written; compaction drops the records of rotated-away
 * bytes and appends go on after it; time never goes backwards. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "containerizer/logindex.h"

typedef struct fixture {
  char root[PATH_MAX];
  int dirfd;
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof(*fx));
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof(fx->root), "%s/berth-lix-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx->root)) return -1;
  fx->dirfd = open(fx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *state = fx;
  return fx->dirfd < 0 ? -1 : 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

static int teardown(void **state) {
  fixture *fx = *state;
  close(fx->dirfd);
  nftw(fx->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static off_t size_of(fixture *fx, const char *name) {
  struct stat st;
  assert_int_equal(fstatat(fx->dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
  return st.st_size;
}

static void read_all(berth_logindex *ix, berth_logrec **recs, size_t *n) {
  berth_error err;
  assert_int_equal(berth_logindex_read(ix->fd, recs, n, &err), 0);
}

static void test_record_round_trips(void **state) {
  berth_logrec r = {1764669600123456789LL, (1ULL << 40) + 7, 0xfffffff0u, 2}, back;
  unsigned char raw[BERTH_LOGINDEX_REC_SIZE];
  berth_logrec_encode(&r, raw);
  berth_logrec_decode(raw, &back);
  assert_int_equal(back.time_ns, r.time_ns);
  assert_int_equal(back.offset, r.offset);
  assert_int_equal(back.len, r.len);
  assert_int_equal(back.stream, 2);
  assert_int_equal(raw[21] | raw[22] | raw[23], 0);
}

static void test_records_are_buffered_until_flush(void **state) {
  fixture *fx = *state;
  berth_logindex ix;
  berth_error err;
  berth_logindex_init(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "a.idx", &err), 0);
  assert_int_equal(size_of(fx, "a.idx"), BERTH_LOGINDEX_MAGIC_LEN);
  assert_int_equal(berth_logindex_add(&ix, 1, 0, 10, 100, &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 2, 0, 5, 200, &err), 0);
  assert_int_equal(size_of(fx, "a.idx"), BERTH_LOGINDEX_MAGIC_LEN);
  assert_int_equal(berth_logindex_flush(&ix, &err), 0);
  assert_int_equal(size_of(fx, "a.idx"), BERTH_LOGINDEX_MAGIC_LEN + 2 * BERTH_LOGINDEX_REC_SIZE);
  /* A full buffer goes out by itself. */
  for (int i = 0; i < BERTH_LOGINDEX_BUF + 1; i++)
    assert_int_equal(berth_logindex_add(&ix, 1, 10 + (uint64_t)i, 1, 300 + i, &err), 0);
  assert_int_equal(ix.records, 2 + BERTH_LOGINDEX_BUF);
  berth_logindex_close(&ix);
  assert_int_equal(size_of(fx, "a.idx"), BERTH_LOGINDEX_MAGIC_LEN + (3 + BERTH_LOGINDEX_BUF) * BERTH_LOGINDEX_REC_SIZE);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "a.idx", &err), 0);
  assert_int_equal(ix.end[1], 11 + BERTH_LOGINDEX_BUF);
  assert_int_equal(ix.end[2], 5);
  assert_int_equal(ix.last_ns, 300 + BERTH_LOGINDEX_BUF);
  berth_logindex_close(&ix);
}

static void test_time_never_goes_backwards_and_same_time_merges(void **state) {
  fixture *fx = *state;
  berth_logindex ix;
  berth_error err;
  berth_logindex_init(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "t.idx", &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 1, 0, 4, 500, &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 1, 4, 4, 400, &err), 0); /* clock stepped back */
  assert_int_equal(berth_logindex_add(&ix, 2, 0, 4, 450, &err), 0);
  assert_int_equal(ix.n_buf, 2);
  assert_int_equal(ix.buf[0].len, 8);
  assert_int_equal(ix.buf[1].time_ns, 500);
  /* Without a time: now, and not before what was recorded. */
  assert_int_equal(berth_logindex_add(&ix, 2, 4, 1, 0, &err), 0);
  assert_true(ix.buf[2].time_ns > 1000000000LL * 1000000000LL);
  berth_logindex_close(&ix);
}

static void test_torn_record_is_cut_at_open(void **state) {
  fixture *fx = *state;
  berth_logindex ix;
  berth_error err;
  berth_logindex_init(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "torn.idx", &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 1, 0, 3, 10, &err), 0);
  berth_logindex_close(&ix);
  int fd = openat(fx->dirfd, "torn.idx", O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "partial", 7), 7);
  close(fd);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "torn.idx", &err), 0);
  assert_int_equal(ix.records, 1);
  assert_int_equal(size_of(fx, "torn.idx"), BERTH_LOGINDEX_MAGIC_LEN + BERTH_LOGINDEX_REC_SIZE);
  assert_int_equal(berth_logindex_add(&ix, 1, 3, 3, 20, &err), 0);
  assert_int_equal(berth_logindex_flush(&ix, &err), 0);
  berth_logrec *recs;
  size_t n;
  read_all(&ix, &recs, &n);
  assert_int_equal(n, 2);
  assert_int_equal(recs[1].offset, 3);
  free(recs);
  berth_logindex_close(&ix);
}

static void test_foreign_file_and_link_are_not_used(void **state) {
  fixture *fx = *state;
  berth_logindex ix;
  berth_error err;
  int fd = openat(fx->dirfd, "junk.idx", O_WRONLY | O_CREAT, 0600);
  assert_int_equal(write(fd, "not an index at all, just bytes", 31), 31);
  close(fd);
  berth_logindex_init(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "junk.idx", &err), 0);
  assert_int_equal(ix.records, 0);
  assert_int_equal(size_of(fx, "junk.idx"), BERTH_LOGINDEX_MAGIC_LEN);
  berth_logindex_close(&ix);
  assert_int_equal(symlinkat("/etc/passwd", fx->dirfd, "link.idx"), 0);
  assert_true(berth_logindex_open(&ix, fx->dirfd, "link.idx", &err) < 0);
  assert_int_equal(ix.fd, -1);
}

static void test_cover_fills_gap_and_drops_records_past_written(void **state) {
  fixture *fx = *state;
  berth_logindex ix;
  berth_error err;
  berth_logindex_init(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "c.idx", &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 1, 0, 10, 100, &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 2, 0, 10, 200, &err), 0);
  assert_int_equal(berth_logindex_add(&ix, 2, 10, 10, 300, &err), 0);
  assert_int_equal(berth_logindex_flush(&ix, &err), 0);
  uint64_t written[3] = {0, 25, 15};
  assert_int_equal(berth_logindex_cover(&ix, fx->dirfd, "c.idx", written, &err), 0);
  berth_logrec *recs;
  size_t n;
  read_all(&ix, &recs, &n);
  assert_int_equal(n, 4);
  assert_int_equal(recs[2].len, 5); /* stderr cut to what was written */
  assert_int_equal(recs[3].stream, 1);
  assert_int_equal(recs[3].offset, 10);
  assert_int_equal(recs[3].len, 15);
  assert_int_equal(recs[3].time_ns, 300);
  free(recs);
  /* A new launch under an old id: nothing written yet, nothing kept. */
  uint64_t none[3] = {0, 0, 0};
  assert_int_equal(berth_logindex_cover(&ix, fx->dirfd, "c.idx", none, &err), 0);
  assert_int_equal(ix.records, 0);
  assert_int_equal(size_of(fx, "c.idx"), BERTH_LOGINDEX_MAGIC_LEN);
  berth_logindex_close(&ix);
}

static void test_compaction_drops_rotated_records(void **state) {
  fixture *fx = *state;
  berth_logindex ix;
  berth_error err;
  berth_logindex_init(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "r.idx", &err), 0);
  for (uint64_t i = 0; i < 1000; i++)
    assert_int_equal(berth_logindex_add(&ix, 1 + (int)(i % 2), (i / 2) * 100, 100, (int64_t)i + 1, &err), 0);
  uint64_t low[3] = {0, 40000, 49950};
  assert_int_equal(berth_logindex_compact(&ix, fx->dirfd, "r.idx", low, NULL, &err), 0);
  assert_int_equal(faccessat(fx->dirfd, "r.idx.tmp", F_OK, 0), -1);
  berth_logrec *recs;
  size_t n;
  read_all(&ix, &recs, &n);
  /* stdout keeps offsets 40000.. (100 records), stderr the one holding 49950. */
  assert_int_equal(n, 101);
  assert_int_equal(ix.kept, 101);
  for (size_t i = 0; i < n; i++) assert_true(recs[i].offset + recs[i].len > low[recs[i].stream]);
  free(recs);
  /* Appends go on into the new file, after the kept records. */
  assert_int_equal(berth_logindex_add(&ix, 1, 50000, 1, 5000, &err), 0);
  berth_logindex_close(&ix);
  assert_int_equal(berth_logindex_open(&ix, fx->dirfd, "r.idx", &err), 0);
  assert_int_equal(ix.records, 102);
  assert_int_equal(ix.end[1], 50001);
  assert_int_equal(ix.last_ns, 5000);
  berth_logindex_close(&ix);
}

static void test_read_refuses_bad_magic(void **state) {
  fixture *fx = *state;
  int fd = openat(fx->dirfd, "bad", O_RDWR | O_CREAT, 0600);
  assert_int_equal(write(fd, "XXXXXXXXrecord", 14), 14);
  berth_logrec *recs;
  size_t n;
  berth_error err;
  assert_true(berth_logindex_read(fd, &recs, &n, &err) < 0);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_round_trips),
      cmocka_unit_test_setup_teardown(test_records_are_buffered_until_flush, setup, teardown),
      cmocka_unit_test_setup_teardown(test_time_never_goes_backwards_and_same_time_merges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_record_is_cut_at_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_foreign_file_and_link_are_not_used, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cover_fills_gap_and_drops_records_past_written, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_drops_rotated_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_refuses_bad_magic, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
