"""nodes.remote.download against real local HTTP servers (127.0.0.1, port 0).  No internet is used:
a guard makes any name lookup of a non-loopback host fail the test."""
from __future__ import annotations

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from nodes.core.errors import ConfigError, DownloadError
from nodes.remote import download as dl
from nodes.remote.client import RunComfyClient
from nodes.remote.download import download, is_loopback
from simulator.server import QuietHTTPServer

TOKEN = "s3cr3t-t0ken-value"


class Server:
    """A tiny HTTP server; ``routes[path](handler, n)`` answers the n-th hit (1-based) of path."""

    def __init__(self):
        self.routes, self.hits = {}, []
        self.release = threading.Event()  # frees handlers that stall
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self.close_connection = True
                outer.hits.append((self.path, dict(self.headers)))
                n = sum(1 for p, _ in outer.hits if p == self.path)
                route = outer.routes.get(self.path)
                if route is None:
                    reply(self, 404, b"not found")
                else:
                    route(self, n)

        self.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def count(self, path):
        return sum(1 for p, _ in self.hits if p == path)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(h, status, body=b"", headers=None, length=True):
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    if length:
        h.send_header("Content-Length", str(len(body)))
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(body)


def serve(body, **kw):
    return lambda h, n: reply(h, 200, body, **kw)


def redirect(location, status=302):
    return lambda h, n: reply(h, status, b"", {"Location": location})


@pytest.fixture
def srv():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def srv2():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to resolve/connect to a non-loopback host is recorded and fails."""
    attempts = []
    real = socket.getaddrinfo

    def guarded(host, *a, **kw):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not is_loopback(name):
            attempts.append(name)
            raise socket.gaierror(f"test guard: no network to {name}")
        return real(host, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"download tried to reach {attempts}"


@pytest.fixture
def fast_retry(monkeypatch):
    monkeypatch.setattr(dl, "BACKOFF", (0.01, 0.01))


FAST = (2, 3)  # connect/read timeouts for tests


# --- normal download ------------------------------------------------------------------------

def test_normal_download(srv, tmp_path):
    body = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: several 1 MiB chunks
    srv.routes["/f.mp4"] = serve(body)
    calls = []
    dest = tmp_path / "deep" / "er" / "out.mp4"
    got = download(srv.url + "/f.mp4", str(dest), api_base=srv.url, timeout=FAST,
                   progress=lambda a, b: calls.append((a, b)))
    assert got == dest and dest.read_bytes() == body
    assert not (dest.parent / "out.mp4.part").exists()
    assert calls[-1] == (len(body), len(body))
    assert srv.count("/f.mp4") == 1


def test_progress_is_throttled(srv, tmp_path):
    def slow_chunked(h, n):  # 20 chunks over ~1 s, no Content-Length
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(20):
            h.wfile.write(b"40\r\n" + b"x" * 64 + b"\r\n")
            h.wfile.flush()
            time.sleep(0.05)
        h.wfile.write(b"0\r\n\r\n")

    srv.routes["/slow"] = slow_chunked
    calls = []
    download(srv.url + "/slow", tmp_path / "s.bin", api_base=srv.url, timeout=FAST,
             progress=lambda a, b: calls.append((a, b)))
    assert calls[-1] == (1280, 1280)
    assert 2 <= len(calls) <= 8, calls  # ~5 per second plus the final call, not one per chunk
    assert [a for a, _ in calls] == sorted(a for a, _ in calls)
    assert all(b is None for _, b in calls[:-1])


# --- the token ------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_token_only_to_api_origin(srv, srv2, tmp_path, host):
    body = b"video bytes" * 100
    srv2.routes["/file"] = serve(body)
    srv.routes["/result"] = redirect(f"http://{host}:{srv2.port}/file")
    out = download(srv.url + "/result", tmp_path / "a.mp4", api_base=srv.url + "/v1", token=TOKEN,
                   timeout=FAST)
    assert out.read_bytes() == body
    assert srv.hits[0][1].get("Authorization") == f"Bearer {TOKEN}"
    assert srv2.count("/file") == 1
    assert all("authorization" not in {k.lower() for k in hdrs} for _, hdrs in srv2.hits)


def test_session_default_auth_never_leaks(srv, srv2, tmp_path):
    """A caller's session with its own Authorization (header and auth) must not leak it anywhere."""
    srv2.routes["/file"] = serve(b"ok")
    srv.routes["/result"] = redirect(f"{srv2.url}/file")
    s = requests.Session()
    s.headers["Authorization"] = "Bearer session-secret"
    s.auth = ("user", "pw")
    download(srv.url + "/result", tmp_path / "a.bin", api_base=srv.url, token=TOKEN, session=s, timeout=FAST)
    assert srv.hits[0][1].get("Authorization") == f"Bearer {TOKEN}"
    assert all("authorization" not in {k.lower() for k in h} for _, h in srv2.hits)
    assert s.headers["Authorization"] == "Bearer session-secret"  # caller's session left untouched


def test_netrc_credentials_not_sent(srv, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    srv.routes["/f"] = serve(b"x")
    download(srv.url + "/f", tmp_path / "out" / "o", api_base=srv.url, timeout=FAST)
    assert srv.count("/f") == 1 and "Authorization" not in srv.hits[0][1]


def test_no_token_without_matching_api_base(srv, tmp_path):
    srv.routes["/f"] = serve(b"x")
    download(srv.url + "/f", tmp_path / "1", api_base=f"http://127.0.0.1:{srv.port + 1}", token=TOKEN,
             timeout=FAST)  # another port
    download(srv.url + "/f", tmp_path / "2", api_base=f"https://127.0.0.1:{srv.port}", token=TOKEN,
             timeout=FAST)  # other scheme
    download(srv.url + "/f", tmp_path / "3", api_base=srv.url, token=None, timeout=FAST)
    assert len(srv.hits) == 3
    assert all("Authorization" not in h for _, h in srv.hits)


# --- schemes and redirects --------------------------------------------------------------------

@pytest.mark.parametrize("target", ["http://example.com/x", "ftp://127.0.0.1/x", "file:///etc/passwd"])
def test_redirect_to_forbidden_url_refused(srv, tmp_path, no_network, target):
    srv.routes["/r"] = redirect(target)
    with pytest.raises(DownloadError) as e:
        download(srv.url + "/r", tmp_path / "o", api_base=srv.url, token=TOKEN, timeout=FAST)
    assert "Refusing" in str(e.value) and target in str(e.value) and srv.url + "/r" in str(e.value)
    assert srv.count("/r") == 1  # refused, not retried
    assert no_network == []      # never looked up example.com
    assert list(tmp_path.iterdir()) == []


class NoCallSession(requests.Session):
    def request(self, *a, **kw):
        raise AssertionError("a connection was attempted")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http://10.0.0.1/x",
                                 "http://example.com/x", "data:text/plain,hi", "https:///nohost",
                                 "http://127.0.0.1:notaport/x", "http://[::1/x", "//127.0.0.1/x"])
def test_wrong_scheme_refused_before_connecting(tmp_path, url):
    with pytest.raises(DownloadError, match="Refusing") as e:
        download(url, tmp_path / "sub" / "o", token=TOKEN, session=NoCallSession(), timeout=(0.5, 0.5))
    assert url in str(e.value) and TOKEN not in str(e.value)
    assert not (tmp_path / "sub").exists()


# --- links into this computer or its network ------------------------------------------------
PUBLIC_API = "https://model-api.runcomfy.net"
INSIDE = ["http://127.0.0.1:8188/api/userdata?dir=workflows", "https://127.0.0.2/x",
          "http://localhost:8188/api/userdata", "https://localhost/x", "https://LOCALHOST./x",
          "https://foo.localhost/x", "http://[::1]:8188/x", "https://[::1]/x", "https://0.0.0.0/x",
          "https://[::]/x", "https://10.1.2.3/x", "https://172.16.0.1/x", "https://172.31.255.254/x",
          "https://192.168.1.1/x", "https://169.254.169.254/latest/meta-data/", "https://[fe80::1]/x",
          "https://[fd00::1]/x", "https://[::ffff:127.0.0.1]/x", "https://[::ffff:a9fe:a9fe]/x",
          "https://127.1/x", "https://2130706433/x", "https://0x7f.0.0.1/x"]


@pytest.mark.parametrize("url", INSIDE)
def test_links_into_this_computer_are_refused_before_connecting_when_the_api_is_public(tmp_path, url):
    with pytest.raises(DownloadError, match="this computer or its local network") as e:
        download(url, tmp_path / "sub" / "o", api_base=PUBLIC_API, token=TOKEN, session=NoCallSession(),
                 timeout=(0.5, 0.5))
    assert str(e.value).startswith(f"Refusing to download the result from {url}:")
    assert TOKEN not in str(e.value) and not (tmp_path / "sub").exists()


@pytest.mark.parametrize("api,url", [
    (PUBLIC_API, "https://storage.runcomfy.net/out/a.mp4"), (PUBLIC_API, "https://8.8.8.8/a.png"),
    (PUBLIC_API, "https://172.32.0.1/a.png"), (PUBLIC_API, "https://[2606:4700:4700::1111]/a.png"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5001/f.mp4"), ("http://127.0.0.1:5000", "http://localhost/f"),
    ("http://127.0.0.1:5000", "https://10.0.0.1/f"), ("http://[::1]:5000/v1", "http://127.0.0.2/f"),
    ("http://192.168.1.5:8080", "http://192.168.1.5:8080/f"),
    ("http://localhost:5000", "https://cdn.example/f"),
])
def test_what_may_be_fetched(api, url):
    assert dl.link_refusal(url, api) is None


@pytest.mark.parametrize("api,url,why", [
    (PUBLIC_API, "http://cdn.example/f.mp4", "plain http://"),
    ("http://127.0.0.1:5000", "http://cdn.example/f.mp4", "plain http://"),
    (None, "http://127.0.0.1:5001/f", "this computer"),          # no API named: nothing local
    (None, "https://10.0.0.1/f", "this computer"),
    ("https://api.example.com", "https://[::1]/f", "this computer"),
    (PUBLIC_API, "ftp://cdn.example/f", "not a valid"),
    (PUBLIC_API, "https://cdn.example:nope/f", "not a valid"),
] + [(PUBLIC_API, url, "this computer or its local network (") for url in INSIDE])
def test_what_is_refused_and_why(api, url, why):
    assert why in (dl.link_refusal(url, api) or "")


class PublicHost(requests.adapters.BaseAdapter):
    """Stands in for a public https file host (no network): answers every request with a
    redirect to ``location``.  The download code under test is unchanged and real."""

    def __init__(self, location):
        super().__init__()
        self.location, self.sent = location, []

    def send(self, request, **kw):
        self.sent.append(request.url)
        resp = requests.Response()
        resp.status_code, resp.url, resp.request, resp.raw = 302, request.url, request, io.BytesIO(b"")
        resp.headers["Location"] = self.location
        return resp

    def close(self):
        pass


def test_a_redirect_from_a_public_host_into_this_computer_is_refused(srv, tmp_path):
    srv.routes["/api/userdata?dir=workflows"] = serve(b'["my-private-workflow.json"]')
    local = f"http://127.0.0.1:{srv.port}/api/userdata?dir=workflows"
    public = PublicHost(local)
    session = requests.Session()
    session.mount("https://files.example/", public)
    with pytest.raises(DownloadError, match="redirected to .*this computer or its local network") as e:
        download("https://files.example/out.mp4", tmp_path / "o", api_base=PUBLIC_API, token=TOKEN,
                 session=session, timeout=FAST)
    assert local in str(e.value)
    assert public.sent == ["https://files.example/out.mp4"]      # the first hop was allowed
    assert srv.hits == [] and list(tmp_path.iterdir()) == []     # the second never connected


def test_the_client_refuses_a_link_to_this_computer_when_its_api_is_public(srv, tmp_path):
    srv.routes["/api/userdata?dir=workflows"] = serve(b'["my-private-workflow.json"]')
    client = RunComfyClient(PUBLIC_API, TOKEN)
    with pytest.raises(DownloadError, match="this computer or its local network"):
        client.download(f"http://127.0.0.1:{srv.port}/api/userdata?dir=workflows", tmp_path / "r.json")
    assert srv.hits == [] and list(tmp_path.iterdir()) == []


def test_redirect_loop(srv, tmp_path):
    srv.routes["/loop"] = redirect("/loop")
    with pytest.raises(DownloadError, match="redirects") as e:
        download(srv.url + "/loop", tmp_path / "o", api_base=srv.url, timeout=FAST)
    assert srv.url + "/loop" in str(e.value)
    assert srv.count("/loop") == 6  # first request + 5 hops, no retry
    assert list(tmp_path.iterdir()) == []


def test_five_redirects_are_fine(srv, tmp_path):
    for i in range(5):
        srv.routes[f"/r{i}"] = redirect(f"/r{i + 1}" if i < 4 else "/final", status=(301, 302, 303, 307, 308)[i])
    srv.routes["/final"] = serve(b"done")
    assert download(srv.url + "/r0", tmp_path / "o", api_base=srv.url, timeout=FAST).read_bytes() == b"done"


# --- size cap ---------------------------------------------------------------------------------

def test_oversize_by_content_length(srv, tmp_path):
    srv.routes["/big"] = serve(b"x" * 1000)
    with pytest.raises(DownloadError, match="limit") as e:
        download(srv.url + "/big", tmp_path / "o", max_bytes=100, api_base=srv.url, timeout=FAST)
    assert srv.url + "/big" in str(e.value)
    assert srv.count("/big") == 1
    assert list(tmp_path.iterdir()) == []


def test_oversize_while_streaming_chunked(srv, tmp_path):
    def chunked(h, n):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for _ in range(16):
                h.wfile.write(b"40\r\n" + b"y" * 64 + b"\r\n")
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    srv.routes["/stream"] = chunked
    with pytest.raises(DownloadError, match="limit"):
        download(srv.url + "/stream", tmp_path / "o", max_bytes=300, api_base=srv.url, timeout=FAST)
    assert srv.count("/stream") == 1
    assert list(tmp_path.iterdir()) == []


def test_env_var_cap(rt, srv, tmp_path, monkeypatch):
    """The runtime's client downloads under RUNCOMFY_MAX_DOWNLOAD_MB (download() itself takes
    max_bytes); a value that cannot be a size is refused before any request."""
    srv.routes["/f"] = serve(b"z" * 2000)
    monkeypatch.setenv("RUNCOMFY_BASE_URL", srv.url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    monkeypatch.setenv("RUNCOMFY_MAX_DOWNLOAD_MB", "0.001")  # 1048 bytes
    with pytest.raises(DownloadError, match="RUNCOMFY_MAX_DOWNLOAD_MB"):
        rt.client().download(srv.url + "/f", tmp_path / "o")
    assert list(tmp_path.iterdir()) == []
    # an explicit max_bytes wins over the environment
    got = download(srv.url + "/f", tmp_path / "o", max_bytes=5000, api_base=srv.url, timeout=FAST)
    assert got.stat().st_size == 2000
    monkeypatch.setenv("RUNCOMFY_MAX_DOWNLOAD_MB", "1")
    assert rt.client().download(srv.url + "/f", tmp_path / "p").stat().st_size == 2000
    asked = srv.count("/f")
    for bad in ("lots", "0", "-5", "inf", "nan"):
        monkeypatch.setenv("RUNCOMFY_MAX_DOWNLOAD_MB", bad)
        with pytest.raises(ConfigError, match="RUNCOMFY_MAX_DOWNLOAD_MB"):
            rt.settings.check()                        # before a submit
        with pytest.raises(ConfigError, match="RUNCOMFY_MAX_DOWNLOAD_MB"):
            rt.client().download(srv.url + "/f", tmp_path / "q")
    assert srv.count("/f") == asked and not (tmp_path / "q").exists()


# --- truncation, errors, retries --------------------------------------------------------------

def test_truncated_body_retried_then_error(srv, tmp_path):
    def truncated(h, n):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"t" * 500)
        h.wfile.flush()  # then the handler returns and the connection is closed

    srv.routes["/t.mp4?sig=abc"] = truncated
    url = srv.url + "/t.mp4?sig=abc"
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as e:
        download(url, tmp_path / "t.mp4", api_base=srv.url, token=TOKEN, timeout=FAST)
    msg = str(e.value)
    assert url in msg and "500 bytes of 1000 bytes" in msg and "tried 3 times" in msg
    assert "still on RunComfy" in msg and TOKEN not in msg
    assert srv.count("/t.mp4?sig=abc") == 3
    assert time.monotonic() - t0 >= 1.4  # backoff 0.5 s + 1 s
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_then_success(srv, tmp_path, fast_retry):
    def flaky(h, n):
        if n == 1:
            h.connection.shutdown(socket.SHUT_RDWR)  # no response at all
            return
        reply(h, 200, b"second time lucky")

    srv.routes["/f"] = flaky
    got = download(srv.url + "/f", tmp_path / "o", api_base=srv.url, timeout=FAST)
    assert got.read_bytes() == b"second time lucky"
    assert srv.count("/f") == 2


def test_read_timeout_retried(srv, tmp_path, fast_retry):
    def stall(h, n):
        srv.release.wait(60)             # answers only once the test lets it: after the download
        reply(h, 200, b"late")

    srv.routes["/stall"] = stall
    with pytest.raises(DownloadError, match="in time.*tried 3 times"):
        download(srv.url + "/stall", tmp_path / "o", api_base=srv.url, timeout=(1, 0.3))
    srv.release.set()                    # a download that ignored its timeout would still wait
    assert srv.count("/stall") == 3


def test_404_not_retried(srv, tmp_path):
    url = srv.url + f"/missing?token={TOKEN}"
    with pytest.raises(DownloadError) as e:
        download(url, tmp_path / "o", api_base=srv.url, token=TOKEN, timeout=FAST)
    msg = str(e.value)
    assert "404" in msg and srv.url + "/missing" in msg
    assert TOKEN not in msg  # redacted even though it was in the URL
    assert len(srv.hits) == 1
    assert list(tmp_path.iterdir()) == []


def test_500_twice_then_success(srv, tmp_path, fast_retry):
    srv.routes["/f"] = lambda h, n: reply(h, 500, b"oops") if n <= 2 else reply(h, 200, b"finally")
    assert download(srv.url + "/f", tmp_path / "o", api_base=srv.url, timeout=FAST).read_bytes() == b"finally"
    assert srv.count("/f") == 3


def test_500_always_gives_up(srv, tmp_path, fast_retry):
    srv.routes["/f"] = lambda h, n: reply(h, 503, b"busy")
    with pytest.raises(DownloadError, match="HTTP 503") as e:
        download(srv.url + "/f", tmp_path / "o", api_base=srv.url, timeout=FAST)
    assert "tried 3 times" in str(e.value) and srv.count("/f") == 3


def test_existing_dest_replaced_only_on_success(srv, tmp_path):
    dest = tmp_path / "o.mp4"
    dest.write_bytes(b"old")
    srv.routes["/big"] = serve(b"x" * 1000)
    with pytest.raises(DownloadError):
        download(srv.url + "/big", dest, max_bytes=10, api_base=srv.url, timeout=FAST)
    assert dest.read_bytes() == b"old"
    srv.routes["/ok"] = serve(b"new")
    download(srv.url + "/ok", dest, api_base=srv.url, timeout=FAST)
    assert dest.read_bytes() == b"new"


@pytest.mark.parametrize("host,expected", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("localhost", True), ("LOCALHOST.", True),
    ("::1", True), ("[::1]", True), ("10.0.0.1", False), ("example.com", False),
    ("128.0.0.1", False), ("", False), ("localhost.example.com", False),
    ("foo.localhost", True), ("::ffff:127.0.0.1", True), ("127.1", True), ("10.0.0.1", False),
])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected
