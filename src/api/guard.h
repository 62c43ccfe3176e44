/* Admission control for one HTTP listener: how long a connection may take
 * to send a request, how many connections that have not shown a valid token
 * may be open, and how fast one peer address may guess tokens.
 *
 * libmicrohttpd owns the sockets; the guard only ever shutdown(2)s one it
 * wants gone, which makes MHD's thread see an end of stream and close it.
 * Every function runs on the listener's MHD thread except
 * berth_guard_sweep, which runs on the loop thread; a mutex inside keeps
 * the two apart, so a socket is never shut after MHD closed its fd. */
#ifndef BERTH_API_GUARD_H
#define BERTH_API_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* From a connection's start, or the end of its previous answer, to the end
 * of the next request's headers; then to the end of that request's body.
 * Absolute: a byte now and then does not extend them (MHD's own timeout
 * only measures silence). */
#define BERTH_GUARD_HEADER_DEADLINE_MS 30000
#define BERTH_GUARD_BODY_DEADLINE_MS 60000
/* Connections that have not yet shown the listener's token.  One more,
 * and the oldest of them is shut, so a flood of idle connections cannot
 * keep a client that sends its request at once from being served.  Only on
 * listeners with a token (TCP, which a task on the host network reaches);
 * the unix socket's clients are the node's own. */
#define BERTH_GUARD_UNPROVEN_MAX 256
/* Wrong bearer tokens per peer address: a burst, then one per refill
 * period.  A peer without budget is refused before its token is looked
 * at, so guessing from one address runs at the refill rate. */
#define BERTH_GUARD_GUESS_BURST 50
#define BERTH_GUARD_GUESS_REFILL_MS 500

typedef enum { BERTH_GUARD_HEADERS, BERTH_GUARD_BODY, BERTH_GUARD_SERVED } berth_guard_phase;

typedef struct berth_guard berth_guard;
typedef struct berth_guard_conn berth_guard_conn;

/* name: the listener, for log lines.  evict: shut the oldest unproven
 * connection past BERTH_GUARD_UNPROVEN_MAX. */
berth_guard *berth_guard_new(const char *name, bool evict);
/* Every connection must have been closed. */
void berth_guard_free(berth_guard *g);

/* A new connection (phase HEADERS, unproven); may shut the oldest
 * unproven one.  The result stays valid until berth_guard_close. */
berth_guard_conn *berth_guard_open(berth_guard *g, int fd, const struct sockaddr *peer, socklen_t peer_len);
void berth_guard_close(berth_guard *g, berth_guard_conn *c);

/* Restarts the phase's deadline. */
void berth_guard_set_phase(berth_guard *g, berth_guard_conn *c, berth_guard_phase phase);
/* The connection showed the token (or needs none): never evicted as
 * unproven again. */
void berth_guard_prove(berth_guard *g, berth_guard_conn *c);
bool berth_guard_proven(const berth_guard_conn *c);

/* False when the peer has no guesses left. */
bool berth_guard_may_guess(berth_guard *g, berth_guard_conn *c);
/* A refused request: logs it (at most one line a second, with a count of
 * those not logged); charge: take one from the peer's budget.  Refusals
 * for want of budget are charged too: a peer that keeps trying stays
 * refused, and gets a guess only by pausing. */
void berth_guard_failed(berth_guard *g, berth_guard_conn *c, bool charge, const char *why);

/* Loop thread: shuts connections past their phase's deadline. */
void berth_guard_sweep(berth_guard *g);

#endif
