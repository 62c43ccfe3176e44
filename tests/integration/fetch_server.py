"""A local HTTP server on 127.0.0.1 for the fetcher's tests.

Serves byte strings from a dict (tests add and delete entries while it
runs), counts GET requests per path, and has two special paths:
  /slow/<name>     announces 1 GiB, then sends a byte every 0.2 s until the
                   client hangs up; `slow_closed` is set when it does.
  /delayed/<name>  waits `delay` seconds, then serves files[<name>]: keeps a
                   download in flight long enough for others to join it.
"""

import collections
import http.server
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server.owner
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.counts[path] += 1
        if path.startswith("/slow/"):
            self._slow(srv)
            return
        name = path
        if path.startswith("/delayed/"):
            time.sleep(srv.delay)
            name = "/" + path[len("/delayed/"):]
        with srv.lock:
            body = srv.files.get(name)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _slow(self, srv):
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()
        srv.slow_started.set()
        try:
            while not srv.stopping:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            srv.slow_closed.set()
        self.close_connection = True


class FetchServer:
    def __init__(self, delay=1.5):
        self.files = {}
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self.delay = delay
        self.stopping = False
        self.slow_started = threading.Event()
        self.slow_closed = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def put(self, path, data):
        with self.lock:
            self.files[path] = data

    def delete(self, path):
        with self.lock:
            self.files.pop(path, None)

    def count(self, path):
        with self.lock:
            return self.counts[path]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()
