/* A fake dockerd for loop-level unit tests.
 *
 * An HTTP/1.1 server on a unix socket in a fresh temp dir, served by its
 * own thread, so the code under test drives its own libuv loop as it does
 * against the real dockerd.  Each test scripts it with rules: for a method
 * and a path pattern, what to answer (a status with a body, a stream of
 * pieces, a hang-up, nothing at all) and when (after a delay, after another
 * rule was hit).  Every request it receives is recorded for assertions.
 *
 * Paths are matched without the "/v1.xx" prefix and without the query, as
 * fnmatch(3) globs without FNM_PATHNAME ("/containers/ * /start" without
 * the spaces; '*' also matches '/').  Rules are tried in the order they
 * were added; a rule that has answered its `times` requests is skipped.  A
 * request no rule matches gets 404 with Docker's {"message": ...}.
 *
 * Every answer carries "Connection: close" and the connection is closed
 * after it, so curl never retries a request on a reused connection and
 * each request meets exactly one rule.
 *
 * Threading: rules are added and read from the test's thread; script a rule
 * completely before the request it answers can arrive.  The recorded
 * requests may be read at any time. */
#ifndef BERTH_TESTS_UNIT_FAKEDOCKER_H
#define BERTH_TESTS_UNIT_FAKEDOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct fake_docker fake_docker;
typedef struct fake_rule fake_rule;

/* How a streamed answer is framed: chunked (pull progress, logs), or raw
 * bytes that end when the connection closes (attach's hijacked stream). */
typedef enum { FAKE_CHUNKED, FAKE_RAW } fake_framing;

/* How a streamed answer ends after its last piece. */
typedef enum {
  FAKE_END_CLEAN, /* terminating chunk, or a close for raw streams */
  FAKE_END_CUT,   /* dockerd vanishing: a chunk announced and not sent, then a
                   * close; a raw stream closes after its last piece, so cut it
                   * inside a frame with fake_rule_frame_part */
  FAKE_END_HOLD,  /* nothing more, connection kept until the client leaves */
} fake_end;

typedef struct fake_request {
  size_t seq; /* arrival order, from 0, over all requests */
  char method[16];
  char *version; /* "1.41", or "" when unversioned */
  char *path;    /* without version and query */
  char *query;   /* after '?', "" when none */
  char *body;    /* "" when none */
} fake_request;

/* Starts the server; aborts the test on failure. */
fake_docker *fake_docker_new(void);
/* Stops the thread (ending held connections and delays at once), removes
 * the socket and its dir, frees everything. */
void fake_docker_free(fake_docker *fd);
const char *fake_docker_socket(const fake_docker *fd);

/* A new rule; method may be "*".  By default it answers 200 with no body,
 * any number of times. */
fake_rule *fake_on(fake_docker *fd, const char *method, const char *pattern);
/* Answers only the first n requests it matches. */
fake_rule *fake_rule_times(fake_rule *r, int n);
/* Waits ms before answering. */
fake_rule *fake_rule_delay(fake_rule *r, int ms);
/* Answers only once `other` has been hit (then waits the delay): models
 * dockerd's /wait answering after a kill. */
fake_rule *fake_rule_after(fake_rule *r, fake_rule *other);
/* status with a JSON body (may be NULL).  "@NOW@" in the body becomes the
 * time of the answer in RFC 3339 (for FinishedAt). */
fake_rule *fake_rule_reply(fake_rule *r, int status, const char *body);
/* status with a body of any type and length. */
fake_rule *fake_rule_reply_raw(fake_rule *r, int status, const char *content_type, const void *body, size_t len);
/* Answers as dockerd's container listing: of containers_json (an array of
 * /containers/json entries), those whose Labels pass every "label" filter
 * in the query's filters (other filter kinds are not modelled). */
fake_rule *fake_rule_containers(fake_rule *r, const char *containers_json);
/* Reads the request and closes the connection without a word. */
fake_rule *fake_rule_hangup(fake_rule *r);
/* Reads the request and never answers; the connection stays open until the
 * client closes it (fake_rule_gone counts that) or the fake stops. */
fake_rule *fake_rule_hold(fake_rule *r);
/* Starts a streamed answer; add pieces and frames, then an end. */
fake_rule *fake_rule_stream(fake_rule *r, int status, const char *content_type, fake_framing framing);
/* The stream's headers go at once, its pieces and end only once `other`
 * has been hit: an attach whose output comes after the start. */
fake_rule *fake_rule_stream_after(fake_rule *r, fake_rule *other);
fake_rule *fake_rule_piece(fake_rule *r, int delay_ms, const void *buf, size_t len);
/* One frame of Docker's multiplexed stream: 8-byte header, then text. */
fake_rule *fake_rule_frame(fake_rule *r, int delay_ms, int stream, const char *text);
/* Only the header and the first `sent` bytes of that frame: a stream cut
 * inside a frame. */
fake_rule *fake_rule_frame_part(fake_rule *r, int delay_ms, int stream, const char *text, size_t sent);
fake_rule *fake_rule_end(fake_rule *r, fake_end end);

/* How many requests this rule answered (or began to). */
int fake_rule_hits(fake_docker *fd, const fake_rule *r);
/* How many of this rule's held or streamed connections the client closed
 * before the answer ended.  Waits up to wait_ms for at least `want`. */
int fake_rule_gone(fake_docker *fd, const fake_rule *r, int want, int wait_ms);

/* Requests received so far matching method ("*" for any) and pattern. */
size_t fake_docker_count(fake_docker *fd, const char *method, const char *pattern);
/* A copy of the nth (from 0) such request, or NULL; free with
 * fake_request_free. */
fake_request *fake_docker_request(fake_docker *fd, const char *method, const char *pattern, size_t nth);
void fake_request_free(fake_request *req);

/* Loop helpers for the tests that use the fake.  fake_run_until runs loop
 * until done(data) holds, failing the test if that takes longer than
 * max_ms (a guard against a hang, not a timing check).  fake_loop_finish
 * runs the loop until nothing is left on it and asserts that
 * uv_loop_close returns 0: every handle was closed. */
void fake_run_until(uv_loop_t *loop, bool (*done)(void *data), void *data, int max_ms);
void fake_loop_finish(uv_loop_t *loop);

#endif
