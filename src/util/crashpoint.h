/* Named crash points for recovery tests: when the environment variable
 * BERTH_CRASH_AT names a point, berthd exits abruptly (_exit, no cleanup,
 * like kill -9) the first time it gets there.  Always compiled in and
 * documented in docs/recovery.md: reading one variable once costs nothing. */
#ifndef BERTH_UTIL_CRASHPOINT_H
#define BERTH_UTIL_CRASHPOINT_H

void berth_crashpoint(const char *name);

#endif
