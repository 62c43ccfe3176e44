/* Internal to the store module (store.c, images.c): the handle's fields. */
#ifndef BERTH_STORE_INTERNAL_H
#define BERTH_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store/store.h"

struct berth_store {
  sqlite3 *db;
  sqlite3_stmt *put;
  sqlite3_stmt *del;
  bool synced; /* the connection's synchronous level is FULL (else NORMAL) */
};

static inline void berth_store_finalize_stmt(sqlite3_stmt **s) { sqlite3_finalize(*s); }
#define cleanup_stmt __attribute__((cleanup(berth_store_finalize_stmt)))

#endif
