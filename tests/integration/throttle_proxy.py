"""A throttling HTTP reverse proxy in front of the local registry.

Listens on 127.0.0.1:<free port>, forwards every request to an upstream on
127.0.0.1 (the registry at :5000), throttles response bodies to a global
rate, and counts the body bytes it has sent. Used to make an image pull slow
enough to be killed in the middle.
"""

import http.client
import http.server
import socketserver
import threading
import time

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate",
              "proxy-authorization", "te", "trailers", "transfer-encoding",
              "upgrade"}


class _Bucket:
    """A global token bucket shared by all connections."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.lock = threading.Lock()
        self.next_free = time.monotonic()

    def take(self, n):
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + n / self.rate
            delay = start - now
        if delay > 0:
            time.sleep(delay)


class ThrottleProxy:
    CHUNK = 32 * 1024

    def __init__(self, upstream_port=5000, rate=2 * 1024 * 1024):
        self.upstream = ("127.0.0.1", upstream_port)
        self.bucket = _Bucket(rate)
        self.bytes_sent = 0
        self.requests = []
        self.active = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60

            def log_message(self, *a):
                pass

            def _forward(self):
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                    proxy.active += 1
                try:
                    self._forward_inner()
                finally:
                    with proxy._lock:
                        proxy.active -= 1

            def _forward_inner(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
                headers["Host"] = "%s:%d" % proxy.upstream
                up = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    up.request(self.command, self.path, body=body,
                               headers=headers)
                    resp = up.getresponse()
                    clen = resp.getheader("Content-Length")
                    data = None
                    if clen is None and self.command != "HEAD":
                        data = resp.read()  # chunked: small replies only
                        clen = str(len(data))
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                            continue
                        self.send_header(k, v)
                    if clen is not None:
                        self.send_header("Content-Length", clen)
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if data is not None:
                        self._send(data)
                        return
                    remaining = int(clen)
                    while remaining > 0:
                        if proxy._stopping.is_set():
                            raise ConnectionAbortedError("proxy stopping")
                        chunk = resp.read(min(proxy.CHUNK, remaining))
                        if not chunk:
                            break
                        remaining -= len(chunk)
                        self._send(chunk)
                finally:
                    up.close()

            def _send(self, data):
                for i in range(0, len(data), proxy.CHUNK):
                    piece = data[i:i + proxy.CHUNK]
                    proxy.bucket.take(len(piece))
                    self.wfile.write(piece)
                    self.wfile.flush()
                    with proxy._lock:
                        proxy.bytes_sent += len(piece)

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (ConnectionError, OSError):
                    self.close_connection = True

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.2},
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def sent(self):
        with self._lock:
            return self.bytes_sent

    def stop(self):
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
