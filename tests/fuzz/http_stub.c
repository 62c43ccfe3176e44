/* Stand-ins for the HTTP server's request API (src/api/server.h).
 *
 * berth_files_open lives in src/api/files.c next to the files-API
 * handlers, which answer through these.  fuzz_files_open calls only the
 * opener, so it links these instead of the libmicrohttpd server; one
 * being called is a bug in the target. */
#include <stdlib.h>

#include "api/server.h"

const char *berth_http_query(const berth_http_request *req, const char *key) { abort(); }

void berth_http_respond(berth_http_request *req, int status, const char *content_type, const char *body, size_t len) {
  abort();
}

void berth_http_respond_json(berth_http_request *req, int status, json_t *j) { abort(); }

void berth_http_respond_error(berth_http_request *req, int status, const char *message) { abort(); }
