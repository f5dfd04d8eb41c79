"""The one way out to the web: every outbound fetch passes this guard (server-side request forgery proof).

- only http and https; ports 80 and 443 unless configured; no credentials in the URL;
- every address the host resolves to must be globally routable; IPv6 forms that embed an IPv4 address (mapped,
  6to4, NAT64, Teredo) are decided on the embedded address; multicast and reserved ranges are refused;
- the connection goes to the address that was checked (no second lookup that could answer differently), with the
  original name in the Host header and TLS SNI, so certificates are still verified against it;
- redirects are followed by hand, at most five, each hop checked the same way;
- one deadline for the whole fetch (a server trickling a byte a second never trips per-read timeouts), a byte cap,
  and a content-type allow-list (HTML and text; PDF goes through the document extractor).

A host allow-list (WEB_FETCH_ALLOWED_HOSTS, empty by default) exists so tests can reach loopback servers; without
an entry the guard fails closed. Nothing else in the project imports httpx.
"""

import asyncio
import ipaddress
import socket
import tempfile
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings

from documents.extraction import ExtractionFailed, clean_text, extract_file, html_blocks

MAX_REDIRECTS = 5
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
PDF_TYPE = "application/pdf"


class FetchRefused(Exception):
    """The URL cannot be used; ``reason`` is one of blocked, timeout, too_large, not_text, failed."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as the server knows itself: Host header and TLS SNI
    port: int
    address: str  # the checked IP the connection goes to


@dataclass(frozen=True)
class Page:
    url: str
    final_url: str
    title: str
    text: str
    content_type: str
    truncated: bool


def embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 address carries, if it is one of the forms that route to IPv4."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in ipaddress.ip_network("::/96") and int(ip) > 1:  # IPv4-compatible (deprecated) ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.teredo is not None:
        return False  # a tunnel to an obfuscated address: never needed to read a web page
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_public(str(inner))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_private)


def _allowed_by_configuration(host: str, port: int) -> bool:
    entries = {entry.lower() for entry in settings.WEB_FETCH_ALLOWED_HOSTS}
    return host in entries or f"{host}:{port}" in entries


def parse(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise FetchRefused("blocked", "That is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise FetchRefused("blocked", f"Only http and https URLs can be fetched, not {parts.scheme or 'this'}.")
    if parts.username or parts.password:
        raise FetchRefused("blocked", "URLs with a user name or password are not fetched.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise FetchRefused("blocked", "The URL has no host.")
    port = port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, host, port


async def check(url: str) -> Target:
    """Resolve and check ``url``; the Target names the one address the connection may go to."""
    scheme, host, port = parse(url)
    allowed = _allowed_by_configuration(host, port)
    if port not in settings.WEB_FETCH_ALLOWED_PORTS and not allowed:
        raise FetchRefused("blocked", f"Port {port} is not allowed; only {settings.WEB_FETCH_ALLOWED_PORTS}.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused("failed", f"The host {host} could not be found.") from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise FetchRefused("failed", f"The host {host} could not be found.")
    # Every address must pass, not just the first: a name answering both a public and an internal address would
    # otherwise be a coin toss away from the internal one.
    if not allowed and not all(is_public(address) for address in addresses):
        raise FetchRefused("blocked", f"{host} points to a private or reserved address; it is not fetched.")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])


def _pinned_url(target: Target) -> str:
    parts = urlsplit(target.url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    return urlunsplit((target.scheme, f"{address}:{target.port}", parts.path or "/", parts.query, ""))


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    return target.host if target.port == default else f"{target.host}:{target.port}"


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > settings.WEB_FETCH_MAX_BYTES:
            limit = settings.WEB_FETCH_MAX_BYTES // 1_048_576
            raise FetchRefused("too_large", f"The page is larger than {limit} MB; it was cut off.", status=413)
    return bytes(body)


async def _get(client: httpx.AsyncClient, url: str) -> tuple[str, str, bytes]:
    """(final URL, content type, body) after following redirects by hand."""
    for _ in range(MAX_REDIRECTS + 1):
        target = await check(url)
        request = client.build_request(
            "GET",
            _pinned_url(target),
            headers={"Host": _host_header(target), "User-Agent": settings.WEB_FETCH_USER_AGENT, "Accept": "*/*"},
            extensions={"sni_hostname": target.host},
        )
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect:
                location = response.headers.get("location", "")
                if not location:
                    raise FetchRefused("failed", "The site redirected without saying where.")
                url = urljoin(url, location)
                continue
            if response.status_code >= 400:
                raise FetchRefused("failed", f"The site answered {response.status_code}.", status=502)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in (*TEXT_TYPES, PDF_TYPE):
                raise FetchRefused("not_text", f"The page is {content_type or 'of unknown type'}, not text.", 415)
            return url, content_type, await _read_capped(response)
        finally:
            await response.aclose()
    raise FetchRefused("blocked", f"More than {MAX_REDIRECTS} redirects.")


def _decode(body: bytes, content_type_header: str = "") -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _page(url: str, final_url: str, content_type: str, body: bytes) -> Page:
    read_in_part = False  # a PDF stopped part way (a limit, a damaged page) holds more than the text we have
    if content_type == PDF_TYPE:
        with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
            handle.write(body)
            handle.flush()
            extracted = extract_file(
                handle.name, "pdf", max_chars=settings.WEB_FETCH_MAX_CHARS, timeout=30, memory_mb=1024
            )
        blocks, title, read_in_part = extracted.blocks, "", extracted.truncated
    elif content_type == "text/plain":
        blocks, title = [{"text": clean_text(_decode(body))}], ""
    else:
        extracted = html_blocks(_decode(body))
        blocks, title = extracted.blocks, extracted.title
    text = "\n\n".join(block["text"] for block in blocks if block["text"])
    truncated = read_in_part or len(text) > settings.WEB_FETCH_MAX_CHARS
    text = text[: settings.WEB_FETCH_MAX_CHARS]
    if not text.strip():
        raise FetchRefused("not_text", "The page has no readable text.", status=422)
    return Page(url, final_url, title or urlsplit(final_url).hostname or final_url, text, content_type, truncated)


def new_client() -> httpx.AsyncClient:
    # trust_env=False: an HTTP(S)_PROXY from the environment would connect on our behalf, past the address check.
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.WEB_FETCH_DEADLINE),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=0),
    )


async def fetch(url: str, client: httpx.AsyncClient | None = None) -> Page:
    """Fetch and extract one page, within the overall deadline. FetchRefused explains any failure."""
    own_client = client is None
    client = client or new_client()
    try:
        async with asyncio.timeout(settings.WEB_FETCH_DEADLINE):
            final_url, content_type, body = await _get(client, url)
        return await asyncio.to_thread(_page, url, final_url, content_type, body)
    except TimeoutError:
        deadline = settings.WEB_FETCH_DEADLINE
        raise FetchRefused("timeout", f"The site did not answer within {deadline:.0f} s.", status=504) from None
    except httpx.HTTPError as exc:
        raise FetchRefused("failed", f"The page could not be fetched ({type(exc).__name__}).", status=502) from None
    except ExtractionFailed as exc:
        raise FetchRefused("not_text", str(exc), status=422) from None
    finally:
        if own_client:
            await client.aclose()
