/* Daemon logging to stderr, one line per event with a level and time. */
#ifndef BERTH_UTIL_LOG_H
#define BERTH_UTIL_LOG_H

typedef enum { BERTH_LOG_DEBUG, BERTH_LOG_INFO, BERTH_LOG_WARN, BERTH_LOG_ERROR } berth_log_level;

void berth_log_set_level(berth_log_level level);
void berth_log(berth_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) berth_log(BERTH_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) berth_log(BERTH_LOG_INFO, __VA_ARGS__)
#define log_warn(...) berth_log(BERTH_LOG_WARN, __VA_ARGS__)
#define log_error(...) berth_log(BERTH_LOG_ERROR, __VA_ARGS__)

#endif
