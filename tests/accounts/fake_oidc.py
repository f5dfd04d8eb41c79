"""A fake OpenID Connect provider on loopback, shaped like a real one, for the single sign-on tests.

A real HTTP server (threads) with discovery (``/.well-known/openid-configuration``), ``/jwks``, ``/authorize``
(approves at once: redirects back with a code and the state), ``/token`` (checks the client's secret, the redirect
URI and the PKCE verifier against the S256 challenge; answers an RS256 ID token signed with a key made for the run)
and ``/userinfo``. Knobs make it misbehave the ways a provider can: a token signed with another key, for another
audience, from another issuer, expired, without a nonce, or an old token replayed; and its person can change
(e-mail, whether it is verified, groups).
"""

import base64
import copy
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import HTTPErrorProcessor, build_opener

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "genaisite-test-client"
CLIENT_SECRET = "test-client-secret"
KEY_ID = "test-key-1"


@lru_cache(maxsize=2)
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """A 2048-bit key per name, made once per test run (the provider's own, and an impostor's)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Person:
    sub: str = "user-0001"
    email: str = "ada@example.org"
    email_verified: bool | str = True
    preferred_username: str = "ada"
    name: str = "Ada Lovelace"
    groups: list[str] | None = None

    def claims(self) -> dict:
        claims = {
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            "preferred_username": self.preferred_username,
            "name": self.name,
        }
        return claims | ({"groups": self.groups} if self.groups is not None else {})


@dataclass
class Knobs:
    sign_with_other_key: bool = False
    audience: str | list[str] | None = None  # None: our client
    issuer: str | None = None  # None: the provider's own
    expires_in: int = 300  # seconds; negative for a token that has expired
    omit_nonce: bool = False
    replay_last_id_token: bool = False  # answer the previous ID token again, whatever was asked
    userinfo_sub: str | None = None  # None: the person's own
    discovery_issuer: str | None = None  # None: the provider's own


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    person: Person


@dataclass
class FakeOIDCProvider:
    person: Person = field(default_factory=Person)
    knobs: Knobs = field(default_factory=Knobs)
    authorize_requests: list[dict] = field(default_factory=list)
    token_requests: list[dict] = field(default_factory=list)
    id_tokens: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._access_tokens: dict[str, Person] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeOIDCProvider":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict:
        return {
            "issuer": self.knobs.discovery_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key("provider").public_key()))
        return {"keys": [public | {"kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """(status, Location or error text): approves at once, as a provider does for someone already signed in."""
        self.authorize_requests.append(query)
        problems = [
            problem
            for problem, failed in (
                ("unknown client", query.get("client_id") != CLIENT_ID),
                ("response_type must be code", query.get("response_type") != "code"),
                ("PKCE with S256 is required", query.get("code_challenge_method") != "S256"),
                ("no code_challenge", not query.get("code_challenge")),
                ("no state", not query.get("state")),
                ("scope must include openid", "openid" not in query.get("scope", "").split()),
            )
            if failed
        ]
        if problems:
            return 400, "; ".join(problems)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._grants[code] = Grant(
                client_id=query["client_id"],
                redirect_uri=query["redirect_uri"],
                nonce=query.get("nonce"),
                code_challenge=query["code_challenge"],
                person=copy.deepcopy(self.person),
            )
        return 302, f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict]:
        self.token_requests.append(form)
        client_id, client_secret = _client_credentials(form, authorization)
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        if _s256(form.get("code_verifier", "")) != grant.code_challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        access_token = secrets.token_urlsafe(24)
        self._access_tokens[access_token] = grant.person
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self._id_token(grant),
        }

    def userinfo(self, authorization: str | None) -> tuple[int, dict]:
        person = self._access_tokens.get((authorization or "").removeprefix("Bearer ").strip())
        if person is None:
            return 401, {"error": "invalid_token"}
        return 200, person.claims() | {"sub": self.knobs.userinfo_sub or person.sub}

    def _id_token(self, grant: Grant) -> str:
        if self.knobs.replay_last_id_token and self.id_tokens:
            return self.id_tokens[-1]
        now = int(time.time())
        claims = grant.person.claims() | {
            "iss": self.knobs.issuer or self.issuer,
            "aud": self.knobs.audience or grant.client_id,
            "iat": now + min(0, self.knobs.expires_in) - 60,
            "exp": now + self.knobs.expires_in,
        }
        if grant.nonce and not self.knobs.omit_nonce:
            claims["nonce"] = grant.nonce
        key = rsa_key("impostor" if self.knobs.sign_with_other_key else "provider")
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})
        self.id_tokens.append(token)
        return token

    def approve(self, authorize_url: str) -> str:
        """What a browser does at the provider: follow the sign-in redirect there, return where it sends us back."""
        opener = build_opener(_NoRedirects)
        with opener.open(authorize_url, timeout=10) as response:
            if response.status != 302:
                raise AssertionError(f"the provider refused to authorize: {response.status} {response.read()!r}")
            return response.headers["Location"]


class _NoRedirects(HTTPErrorProcessor):
    def http_response(self, request, response):
        return response

    https_response = http_response


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    if authorization and authorization.startswith("Basic "):
        decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _handler_for(provider: FakeOIDCProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif parts.path == "/jwks":
                self._json(200, provider.jwks())
            elif parts.path == "/authorize":
                status, where = provider.authorize(query)
                self._send(status, b"" if status == 302 else where.encode(), location=where if status == 302 else None)
            elif parts.path == "/userinfo":
                self._json(*provider.userinfo(self.headers.get("Authorization")))
            else:
                self._send(404, b"not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                self._json(*provider.token(form, self.headers.get("Authorization")))
            else:
                self._send(404, b"not found")

        def _json(self, status: int, body: dict) -> None:
            self._send(status, json.dumps(body).encode(), content_type="application/json")

        def _send(self, status: int, body: bytes, *, content_type: str = "text/plain", location: str | None = None):
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return Handler
