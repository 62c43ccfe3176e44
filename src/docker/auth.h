/* Registry credentials from a docker config.json (--docker_config) and the
 * X-Registry-Auth header dockerd takes on a pull.
 *
 * Only `auths` entries are read, with `auth` (base64 "user:password") or
 * `username` and `password`; credential helpers (credsStore, credHelpers)
 * are not run.  Registries are matched by host name as docker does: a key
 * "https://127.0.0.1:5001/v1/", "http://127.0.0.1:5001" and "127.0.0.1:5001"
 * all name 127.0.0.1:5001, and Docker Hub answers to index.docker.io,
 * docker.io and registry-1.docker.io. */
#ifndef BERTH_DOCKER_AUTH_H
#define BERTH_DOCKER_AUTH_H

#include <stddef.h>

#include "util/error.h"

typedef struct berth_registry_cred {
  char *host;   /* key reduced to its host name ("127.0.0.1:5001") */
  char *server; /* the key as written, sent as serveraddress */
  char *username;
  char *password;
} berth_registry_cred;

typedef struct berth_docker_auth {
  berth_registry_cred *creds;
  size_t n;
} berth_docker_auth;

/* Reads the file; a missing or malformed one is an error naming it. */
int berth_docker_auth_load(const char *path, berth_docker_auth *auth, berth_error *err);
/* Parses config.json text (for tests and the loader). */
int berth_docker_auth_parse(const char *text, size_t len, berth_docker_auth *auth, berth_error *err);
void berth_docker_auth_free(berth_docker_auth *auth);

/* The registry host an image reference pulls from: "127.0.0.1:5001" for
 * "127.0.0.1:5001/a/b:t", "docker.io" for "busybox" (docker's rule: the
 * first component is a registry when it has a '.' or ':' or is
 * "localhost").  Caller frees. */
char *berth_docker_registry_of(const char *image);

/* The credentials for image's registry, or NULL. */
const berth_registry_cred *berth_docker_auth_find(const berth_docker_auth *auth, const char *image);

/* The X-Registry-Auth value for image (base64url of {"username",
 * "password", "serveraddress"}), or NULL when there are no credentials for
 * its registry.  Caller frees. */
char *berth_docker_auth_header(const berth_docker_auth *auth, const char *image);

#endif
