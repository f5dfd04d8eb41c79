"""The web guard, proven against real loopback servers: internal addresses never get a single connection."""

import time

import pytest

from documents import web, webpages
from tests.documents.files import make_pdf
from tests.web_server import WebServer, html, huge, redirect, slow_html, trickle, typed

INTERNAL_FORMS = [
    "http://2130706433:{port}/",  # decimal 127.0.0.1
    "http://0x7f000001:{port}/",  # hex
    "http://0177.0.0.1:{port}/",  # octal
    "http://127.1:{port}/",  # short form
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped
    "http://[::ffff:7f00:1]:{port}/",  # the same, in hex
    "http://[2002:7f00:1::1]:{port}/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::7f00:1]:{port}/",  # NAT64 wrapping 127.0.0.1
    "http://0.0.0.0:{port}/",
    "http://10.0.0.1:{port}/",
    "http://172.16.5.4:{port}/",
    "http://192.168.1.1:{port}/",
    "http://169.254.169.254:{port}/latest/meta-data/",  # cloud metadata
    "http://100.100.100.200:{port}/",  # metadata address in shared/CGNAT space
    "http://100.64.0.1:{port}/",
    "http://[fd00::1]:{port}/",
    "http://[fe80::1]:{port}/",
    "http://224.0.0.1:{port}/",  # multicast
    "http://localhost:{port}/",  # a name that resolves to loopback
    "http://LOCALHOST.:{port}/",
]


@pytest.fixture
def sentinel(settings):
    with WebServer() as server:
        server.routes["/"] = html("Sentinel", "must never be reached")
        # Its port is allowed, so only the address check can be what refuses.
        settings.WEB_FETCH_ALLOWED_PORTS = [80, 443, server.port]
        settings.WEB_FETCH_ALLOWED_HOSTS = []
        yield server


@pytest.mark.parametrize("form", INTERNAL_FORMS)
async def test_every_internal_address_form_is_refused_without_a_connection(sentinel, form):
    with pytest.raises(web.FetchRefused) as refused:
        await web.fetch(form.format(port=sentinel.port))
    assert refused.value.reason in ("blocked", "failed")
    assert sentinel.connections == 0


async def test_a_redirect_from_an_allowed_server_to_loopback_is_refused(sentinel, settings):
    with WebServer() as allowed:
        settings.WEB_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{allowed.port}"]
        allowed.routes["/ok"] = html("Allowed", "fine")
        allowed.routes["/to-sentinel"] = redirect(f"http://127.0.0.1:{sentinel.port}/")
        allowed.routes["/to-sentinel-by-name"] = redirect(f"http://localhost:{sentinel.port}/")
        page = await web.fetch(allowed.url("/ok"))  # the allow-list works for what it names...
        assert page.title == "Allowed"
        for path in ("/to-sentinel", "/to-sentinel-by-name"):
            with pytest.raises(web.FetchRefused, match="private or reserved"):
                await web.fetch(allowed.url(path))  # ...and for nothing else
    assert sentinel.connections == 0


@pytest.fixture
def allowed_server(settings):
    with WebServer() as server:
        settings.WEB_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
        yield server


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.com/x", "javascript:1"])
async def test_other_schemes_are_refused(url):
    with pytest.raises(web.FetchRefused, match="Only http and https"):
        await web.fetch(url)


async def test_credentials_and_unusual_ports_are_refused():
    with pytest.raises(web.FetchRefused, match="user name or password"):
        await web.fetch("http://user:secret@example.com/")
    with pytest.raises(web.FetchRefused, match="Port 8080 is not allowed"):
        await web.fetch("http://example.com:8080/")


async def test_a_trickling_server_is_cut_off_at_the_deadline(allowed_server, settings):
    settings.WEB_FETCH_DEADLINE = 2.0
    allowed_server.routes["/slow"] = trickle(30)
    started = time.monotonic()
    with pytest.raises(web.FetchRefused) as refused:
        await web.fetch(allowed_server.url("/slow"))
    assert refused.value.reason == "timeout"
    assert 1.8 < time.monotonic() - started < 3.5


async def test_a_huge_page_is_cut_at_the_byte_cap(allowed_server, settings):
    allowed_server.routes["/huge"] = huge(50)
    started = time.monotonic()
    with pytest.raises(web.FetchRefused) as refused:
        await web.fetch(allowed_server.url("/huge"))
    assert refused.value.reason == "too_large"
    assert time.monotonic() - started < 5


@pytest.mark.django_db(transaction=True)
async def test_five_slow_pages_are_fetched_concurrently(allowed_server):
    for index in range(5):
        allowed_server.routes[f"/page{index}"] = slow_html(f"Page {index}", f"content {index}", delay=1.0)
    started = time.monotonic()
    results = await webpages.read_pages([allowed_server.url(f"/page{index}") for index in range(5)])
    elapsed = time.monotonic() - started
    assert [result.page.title for result in results] == [f"Page {index}" for index in range(5)]
    assert elapsed < 2.0, f"took {elapsed:.1f} s: the fetches did not overlap"


async def test_only_text_types_are_read_and_pdf_goes_through_the_extractor(allowed_server):
    allowed_server.routes["/image"] = typed("image/png", b"\x89PNG\r\n")
    allowed_server.routes["/report.pdf"] = typed("application/pdf", make_pdf(["Quarterly report", "Revenue up 4%"]))
    allowed_server.routes["/notes"] = typed("text/plain; charset=utf-8", b"Plain notes\n\nSecond paragraph")
    with pytest.raises(web.FetchRefused) as refused:
        await web.fetch(allowed_server.url("/image"))
    assert refused.value.reason == "not_text"
    pdf = await web.fetch(allowed_server.url("/report.pdf"))
    assert "Revenue up 4%" in pdf.text
    assert (await web.fetch(allowed_server.url("/notes"))).text == "Plain notes\n\nSecond paragraph"


async def test_redirects_are_followed_by_hand_up_to_five(allowed_server):
    allowed_server.routes["/start"] = redirect("/middle")
    allowed_server.routes["/middle"] = redirect(allowed_server.url("/end"))
    allowed_server.routes["/end"] = html("The end", "arrived")
    page = await web.fetch(allowed_server.url("/start"))
    assert (page.title, page.final_url) == ("The end", allowed_server.url("/end"))
    for index in range(7):
        allowed_server.routes[f"/loop{index}"] = redirect(f"/loop{index + 1}")
    with pytest.raises(web.FetchRefused, match="More than 5 redirects"):
        await web.fetch(allowed_server.url("/loop0"))


def test_links_are_found_in_a_message():
    text = "Compare https://a.example/x?y=1, (see http://b.example/page) and https://a.example/x?y=1."
    assert webpages.urls_in(text) == ["https://a.example/x?y=1", "http://b.example/page"]


def test_link_rules_give_pages_the_servers_own_pattern_and_limit(settings):
    settings.WEB_MAX_URLS_PER_MESSAGE = 2
    rules = webpages.link_rules()
    assert rules.pattern == webpages.URL_PATTERN.pattern
    assert rules.trailing == webpages.TRAILING_PUNCTUATION
    assert rules.max_count == 2
    assert len(webpages.urls_in("https://a.example https://b.example https://c.example")) == rules.max_count


@pytest.mark.django_db(transaction=True)
async def test_pages_are_cached_for_a_while(allowed_server):
    allowed_server.routes["/cached"] = html("Cached", "once")
    first = await webpages.read_page(allowed_server.url("/cached"))
    second = await webpages.read_page(allowed_server.url("/cached"))
    assert (first.cached, second.cached) == (False, True)
    assert second.page.title == "Cached"
    assert allowed_server.requests.count("/cached") == 1


def test_address_rules_decide_on_the_embedded_ipv4():
    assert web.is_public("8.8.8.8")
    assert web.is_public("2606:4700:4700::1111")
    assert not web.is_public("2002:0a00:0001::1")  # 6to4 around 10.0.0.1
    assert web.is_public("2002:0808:0808::1")  # 6to4 around 8.8.8.8
    assert not web.is_public("64:ff9b::a9fe:a9fe")  # NAT64 around 169.254.169.254
    assert not web.is_public("2001:0:4136:e378:8000:63bf:3fff:fdd2")  # Teredo
    assert not web.is_public("fe80::1%eth0")
