#include "client/signals.h"

#include <string.h>

volatile sig_atomic_t berth_signal_count;
volatile sig_atomic_t berth_last_signal;

static void on_signal(int signo) {
  berth_last_signal = signo;
  if (berth_signal_count < 2) berth_signal_count++;
}

void berth_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}
