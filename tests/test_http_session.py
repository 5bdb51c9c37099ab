"""The outbound session does not reuse a connection that sat idle (a server may be closing it)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from provisioning import http


class KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open between requests
    connections = []

    def setup(self):
        super().setup()
        type(self).connections.append(self.client_address)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok": true}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    KeepAlive.connections = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/devices"
    httpd.shutdown()
    httpd.server_close()


def post_from_a_new_thread(url, pause, monkeypatch):
    """Two POSTs from one thread, ``pause`` seconds apart, each on ``http.session()`` as every
    outbound call gets it; the statuses."""
    monkeypatch.setattr(http, "IDLE_REUSE", 0.2)
    statuses = []

    def run():
        statuses.append(http.session().post(url, json={}, timeout=5).status_code)
        threading.Event().wait(pause)
        statuses.append(http.session().post(url, json={}, timeout=5).status_code)

    thread = threading.Thread(target=run)  # a fresh thread: a fresh session
    thread.start()
    thread.join(10)
    return statuses


def test_requests_close_together_share_one_connection(server, monkeypatch):
    assert post_from_a_new_thread(server, 0.01, monkeypatch) == [201, 201]
    assert len(KeepAlive.connections) == 1


def test_a_connection_idle_longer_than_the_limit_is_not_reused(server, monkeypatch):
    assert post_from_a_new_thread(server, 0.4, monkeypatch) == [201, 201]
    assert len(KeepAlive.connections) == 2
