#include "client/exec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "client/calls.h"
#include "client/cli_args.h"
#include "client/client.h"
#include "client/ids.h"
#include "client/upgrade.h"
#include "util/alloc.h"
#include "util/frame.h"

#define IO_BUF 16384
/* An exit frame is {"exit_code":N}; anything longer is refused. */
#define EXIT_PAYLOAD_MAX 128
#define ERROR_PAYLOAD_MAX 1024

const char berth_exec_help[] =
    "Usage: berth exec [OPTIONS] ID CMD [ARG...]\n"
    "\n"
    "Run a command in a running container, as docker exec does: its output\n"
    "is streamed (stdout to stdout, stderr to stderr) and berth exits with\n"
    "its exit code (127: command not found, 126: not executable).\n"
    "\n"
    "Options:\n"
    "  -i, --interactive    pass this process's stdin to the command; its end\n"
    "                       closes the command's stdin\n"
    "  -t, --tty            run the command on a terminal (raw mode here while it\n"
    "                       runs; the terminal's size is passed at the start)\n"
    "  -e, --env K=V        set an environment variable (repeatable; K alone\n"
    "                       takes its value from this environment)\n"
    "  -u, --user USER      run as USER (name or uid[:gid])\n"
    "  -w, --workdir DIR    run in DIR\n"
    "  -h, --help           show this help\n"
    "\n"
    "Without -i the command's stdin is closed, as with docker.  A second\n"
    "berth exec on the same container runs beside the first.  When berth\n"
    "goes away the command is not killed: it runs to its own end.\n"
    "Exit status: the command's; 1 when berthd refuses (unknown id, not\n"
    "running) or cannot be reached; 125 on a usage error.\n";

enum { EXEC_HELP = 1, EXEC_INTERACTIVE, EXEC_TTY, EXEC_ENV, EXEC_USER, EXEC_WORKDIR, EXEC_ADDR, EXEC_TOKEN_FILE };

static const berth_opt exec_options[] = {
    {"help", 'h', false, EXEC_HELP},
    {"interactive", 'i', false, EXEC_INTERACTIVE},
    {"tty", 't', false, EXEC_TTY},
    {"env", 'e', true, EXEC_ENV},
    {"user", 'u', true, EXEC_USER},
    {"workdir", 'w', true, EXEC_WORKDIR},
    /* The global options, also taken here (before ID), as other commands do. */
    {"addr", 0, true, EXEC_ADDR},
    {"token_file", 0, true, EXEC_TOKEN_FILE},
    {NULL, 0, false, 0},
};

/* ---- the terminal ---- */

static struct termios saved_termios;
static bool raw_mode;
static volatile sig_atomic_t stop_signal;

static void restore_terminal(void) {
  if (!raw_mode) return;
  tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
  raw_mode = false;
}

static void on_stop_signal(int signo) { stop_signal = signo; }

static void set_raw(void) {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0) return;
  struct termios t = saved_termios;
  cfmakeraw(&t);
  if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0) raw_mode = true;
  /* Every way out goes through restore_terminal: the normal ends, and
   * these signals (which end the loop rather than the process). */
  atexit(restore_terminal);
}

/* ---- the session ---- */

typedef struct exec_state {
  int exit_code; /* -1 until the exit frame */
  char exit_buf[EXIT_PAYLOAD_MAX + 1];
  size_t exit_len;
  char error_buf[ERROR_PAYLOAD_MAX + 1];
  size_t error_len;
  bool bad_exit;
  bool output_failed;
} exec_state;

static int unframe_cb(int stream, const char *buf, size_t len, int last, void *data) {
  exec_state *st = data;
  switch (stream) {
    case BERTH_FRAME_STDOUT:
    case BERTH_FRAME_STDERR:
      if (berth_write_all(stream == BERTH_FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO, buf, len) < 0)
        st->output_failed = true;
      return 0;
    case BERTH_FRAME_ERROR:
      if (st->error_len + len > ERROR_PAYLOAD_MAX) len = ERROR_PAYLOAD_MAX - st->error_len;
      memcpy(st->error_buf + st->error_len, buf, len);
      st->error_len += len;
      st->error_buf[st->error_len] = '\0';
      return 0;
    default: /* BERTH_FRAME_EXIT */
      if (st->exit_len + len > EXIT_PAYLOAD_MAX) return BERTH_EINVAL;
      memcpy(st->exit_buf + st->exit_len, buf, len);
      st->exit_len += len;
      st->exit_buf[st->exit_len] = '\0';
      if (last) {
        json_t *j = json_loads(st->exit_buf, 0, NULL);
        json_t *code = json_object_get(j, "exit_code");
        if (json_is_integer(code) && json_integer_value(code) >= 0 && json_integer_value(code) <= 255)
          st->exit_code = (int)json_integer_value(code);
        else
          st->bad_exit = true;
        json_decref(j);
      }
      return 0;
  }
}

/* Relays until berthd ends the stream: its frames to stdout and stderr,
 * and (interactive) stdin to it, half-closing at stdin's end.  Writes to
 * the socket never block the loop: a pending piece is held and only then
 * is stdin read again, so a command that does not read its stdin cannot
 * stall its output. */
static int relay(int sock, bool interactive, const char *extra, size_t extra_len, exec_state *st, berth_error *err) {
  berth_unframe u;
  berth_unframe_init(&u, unframe_cb, st);
  if (extra_len && berth_unframe_feed(&u, extra, extra_len, err) < 0) return err->code;
  static char in[IO_BUF], out[IO_BUF];
  size_t pending = 0, off = 0;
  bool stdin_open = interactive, shut = !interactive;
  if (!interactive) shutdown(sock, SHUT_WR);
  for (;;) {
    if (stop_signal) return berth_error_set(err, BERTH_ECANCELED, "interrupted by signal %d", (int)stop_signal);
    struct pollfd p[2] = {{.fd = sock, .events = POLLIN | (pending ? POLLOUT : 0)},
                          {.fd = stdin_open && !pending ? STDIN_FILENO : -1, .events = POLLIN}};
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return berth_error_errno(err, errno, "poll");
    if (p[0].revents & POLLOUT && pending) {
      ssize_t w = send(sock, in + off, pending, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        /* berthd no longer takes stdin (the command ended): its output
         * and exit code still come. */
        pending = 0;
        stdin_open = false;
      } else if (w > 0) {
        off += (size_t)w;
        pending -= (size_t)w;
      }
    }
    if (!pending && !stdin_open && !shut) {
      shutdown(sock, SHUT_WR);
      shut = true;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(STDIN_FILENO, in, sizeof(in));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        stdin_open = false;
        if (!shut) {
          shutdown(sock, SHUT_WR);
          shut = true;
        }
      } else {
        pending = (size_t)r;
        off = 0;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(sock, out, sizeof(out));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r < 0) return berth_error_errno(err, errno, "read from berthd");
      if (r == 0) break;
      if (berth_unframe_feed(&u, out, (size_t)r, err) < 0) return err->code;
    }
  }
  if (!berth_unframe_at_boundary(&u)) return berth_error_set(err, BERTH_EIO, "berthd's stream ended mid-frame");
  return 0;
}

static json_t *exec_request(const char *id, char **cmd, int n_cmd, json_t *env, const char *user, const char *workdir,
                            bool interactive, bool tty) {
  json_t *args = json_array();
  for (int i = 1; i < n_cmd; i++) json_array_append_new(args, json_string(cmd[i]));
  json_t *command = json_pack("{s:b,s:s?,s:o}", "shell", 0, "value", cmd[0], "arguments", args);
  if (!command) return NULL;
  if (json_array_size(env)) json_object_set_new(command, "environment", json_pack("{s:O}", "variables", env));
  if (user) json_object_set_new(command, "user", json_string(user));
  json_t *exec = json_pack("{s:{s:s?},s:o,s:b,s:b}", "container_id", "value", id, "command", command, "stdin",
                           interactive, "tty", tty);
  if (!exec) return NULL;
  if (workdir) json_object_set_new(exec, "working_dir", json_string(workdir));
  struct winsize ws;
  if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
    json_object_set_new(exec, "tty_info",
                        json_pack("{s:{s:i,s:i}}", "window_size", "rows", ws.ws_row, "columns", ws.ws_col));
  return json_pack("{s:s,s:o}", "type", "EXEC", "exec", exec);
}

/* Everything after the arguments: the call, the relay, the exit code. */
static int exec_session(const char *addr_text, const char *token_file, const char *id, char **cmd, int n_cmd,
                        json_t *env, const char *user, const char *workdir, bool interactive, bool tty) {
  berth_error err = {0};
  int code = BERTH_EXEC_EXIT_ERROR;
  json_t *request = exec_request(id, cmd, n_cmd, env, user, workdir, interactive, tty);
  if (!request) {
    fprintf(stderr, "berth: exec: arguments must be valid UTF-8\n");
    return BERTH_EXEC_EXIT_USAGE;
  }
  berth_addr addr;
  cleanup_free char *token = NULL;
  if (berth_upgrade_resolve(addr_text, token_file, &addr, &token, &err) < 0) {
    json_decref(request);
    fprintf(stderr, "berth: %s\n", err.msg);
    return code;
  }
  int sock = -1;
  cleanup_free char *extra = NULL;
  size_t extra_len = 0;
  int rc = berth_upgrade_call(&addr, token, request, &sock, &extra, &extra_len, &err);
  berth_addr_clear(&addr);
  json_decref(request);
  if (rc < 0) {
    fprintf(stderr, "berth: %s\n", err.msg);
    return code;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (tty && interactive) set_raw();
  exec_state st = {.exit_code = -1};
  rc = relay(sock, interactive, extra, extra_len, &st, &err);
  close(sock);
  restore_terminal();
  if (st.error_len) fprintf(stderr, "berth: exec: %s\n", st.error_buf);
  if (rc < 0) {
    fprintf(stderr, "berth: exec: %s\n", err.msg);
    code = rc == BERTH_ECANCELED ? 128 + (int)stop_signal : BERTH_EXEC_EXIT_ERROR;
  } else if (st.exit_code >= 0) {
    code = st.exit_code;
  } else {
    if (!st.error_len)
      fprintf(stderr, "berth: exec: %s\n", st.bad_exit ? "berthd sent a malformed exit code" : "no exit code came");
    code = BERTH_EXEC_EXIT_ERROR;
  }
  return code;
}

static int usage(const berth_error *err) {
  fprintf(stderr, "berth: %s (see 'berth exec --help')\n", err->msg);
  return BERTH_EXEC_EXIT_USAGE;
}

int berth_exec_main(const char *addr_text, const char *token_file, int argc, char **argv) {
  /* "-it" and "-ti", a docker habit, are the two flags. */
  char **args = berth_calloc((size_t)argc * 2 + 1, sizeof(char *));
  int n = 0;
  bool operands = false;
  for (int i = 0; i < argc; i++) {
    if (!operands && (!strcmp(argv[i], "-it") || !strcmp(argv[i], "-ti"))) {
      args[n++] = "-i";
      args[n++] = "-t";
      continue;
    }
    if (argv[i][0] != '-' || !strcmp(argv[i], "--")) operands = true;
    args[n++] = argv[i];
  }
  berth_args a;
  berth_args_init(&a, n, args);
  berth_error err = {0};
  bool interactive = false, tty = false;
  const char *user = NULL, *workdir = NULL, *id = NULL;
  json_t *env = json_array();
  int code = BERTH_EXEC_EXIT_ERROR;
  for (;;) {
    int opt;
    const char *value;
    int kind = berth_args_next(&a, exec_options, &opt, &value, &err);
    if (kind < 0) {
      code = usage(&err);
      goto out;
    }
    if (kind == BERTH_ARG_END) break;
    if (kind == BERTH_ARG_OPERAND) {
      id = value;
      break;
    }
    if (opt == EXEC_HELP) {
      fputs(berth_exec_help, stdout);
      code = 0;
      goto out;
    }
    if (opt == EXEC_INTERACTIVE) interactive = true;
    if (opt == EXEC_TTY) tty = true;
    if (opt == EXEC_USER) user = value;
    if (opt == EXEC_WORKDIR) workdir = value;
    if (opt == EXEC_ADDR) addr_text = value;
    if (opt == EXEC_TOKEN_FILE) token_file = value;
    if (opt == EXEC_ENV) {
      berth_env_var var;
      bool found = false;
      if (berth_cli_parse_env(value, &var, &found, &err) < 0) {
        code = usage(&err);
        goto out;
      }
      if (found) {
        json_array_append_new(env, json_pack("{s:s,s:s}", "name", var.name, "value", var.value));
        free(var.name);
        free(var.value);
      }
    }
  }
  if (!id || a.index >= a.argc) {
    berth_error_set(&err, BERTH_EINVAL, id ? "exec needs a command" : "exec needs a container ID and a command");
    code = usage(&err);
    goto out;
  }
  /* A unique prefix names the container, as for the other commands. */
  berth_client *client = NULL;
  json_t *list = NULL;
  const char *full = NULL;
  if (berth_client_open(addr_text, token_file, &client, &err) < 0 ||
      berth_call_list_containers(client, &list, &err) < 0 || berth_ids_resolve_id(list, id, &full, &err) < 0) {
    fprintf(stderr, "berth: %s\n", err.msg);
  } else {
    code = exec_session(addr_text, token_file, full, a.argv + a.index, a.argc - a.index, env, user, workdir,
                        interactive, tty);
  }
  json_decref(list);
  berth_client_free(client);
out:
  json_decref(env);
  free(args);
  return code;
}

/* ---- berth run -i ---- */

typedef struct stdin_job {
  berth_addr addr;
  char *token;
  char *id;
} stdin_job;

static void *stdin_thread(void *arg) {
  stdin_job *job = arg;
  berth_error err = {0};
  json_t *request = json_pack("{s:s,s:{s:{s:s}}}", "type", "ATTACH_CONTAINER_INPUT", "attach_container_input",
                              "container_id", "value", job->id);
  int sock = -1;
  char *extra = NULL;
  size_t extra_len = 0;
  int rc = berth_upgrade_call(&job->addr, job->token, request, &sock, &extra, &extra_len, &err);
  json_decref(request);
  free(extra);
  if (rc < 0) {
    /* A task that ended before its stdin was attached needs none. */
    if (rc != BERTH_ECONFLICT) fprintf(stderr, "berth: cannot pass stdin to '%s': %s\n", job->id, err.msg);
    goto out;
  }
  static char buf[IO_BUF];
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    /* MSG_NOSIGNAL: a task that ended is not a reason to die. */
    size_t off = 0;
    while (off < (size_t)r) {
      ssize_t w = send(sock, buf + off, (size_t)r - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) goto done;
      off += (size_t)w;
    }
  }
  /* The task's stdin ends here (docker's StdinOnce); berthd closes the
   * stream once docker has. */
  shutdown(sock, SHUT_WR);
  while (read(sock, buf, sizeof(buf)) > 0) {
  }
done:
  close(sock);
out:
  berth_addr_clear(&job->addr);
  free(job->token);
  free(job->id);
  free(job);
  return NULL;
}

int berth_run_stdin_start(const char *addr_text, const char *token_file, const char *id, berth_error *err) {
  stdin_job *job = berth_calloc(1, sizeof(*job));
  if (berth_upgrade_resolve(addr_text, token_file, &job->addr, &job->token, err) < 0) {
    free(job);
    return err->code;
  }
  job->id = berth_strdup(id);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int e = pthread_create(&t, &attr, stdin_thread, job);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    berth_addr_clear(&job->addr);
    free(job->token);
    free(job->id);
    free(job);
    return berth_error_errno(err, e, "start the stdin thread");
  }
  return 0;
}
