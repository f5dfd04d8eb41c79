"""A loopback web server for tests: counts every connection, serves scripted routes.

Listens dual-stack on [::] (IPv4 and IPv6 loopback alike), so a guard that let anything through to 127.0.0.1 or ::1
would show up in ``connections``.
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[], tuple[int, dict[str, str], Iterator[bytes] | bytes]]


class _DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class WebServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.connections = 0
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                owner.connections += 1
                super().setup()

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                route = owner.routes.get(self.path.split("?")[0])
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                else:
                    status, headers, body = route()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for piece in body:
                        self.wfile.write(piece)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = _DualStackServer(("::", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> "WebServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def html(title: str, body: str) -> Route:
    page = f"<html><head><title>{title}</title></head><body><main><h1>{title}</h1><p>{body}</p></main></body></html>"
    return lambda: (200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())


def slow_html(title: str, body: str, delay: float) -> Route:
    inner = html(title, body)

    def route():
        time.sleep(delay)
        return inner()

    return route


def trickle(seconds: int) -> Route:
    def pieces() -> Iterator[bytes]:
        yield b"<html><body><p>"
        for _ in range(seconds):
            time.sleep(1)
            yield b"x"

    return lambda: (200, {"Content-Type": "text/html"}, pieces())


def huge(megabytes: int) -> Route:
    def pieces() -> Iterator[bytes]:
        yield b"<html><body><p>"
        for _ in range(megabytes):
            yield b"a" * 1_048_576

    return lambda: (200, {"Content-Type": "text/html"}, pieces())


def redirect(location: str) -> Route:
    return lambda: (302, {"Location": location, "Content-Type": "text/plain"}, b"moved")


def typed(content_type: str, body: bytes) -> Route:
    return lambda: (200, {"Content-Type": content_type}, body)
