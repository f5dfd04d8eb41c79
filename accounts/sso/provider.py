"""allauth's OpenID Connect provider, with the checks it leaves out.

``SSOProvider`` sends a nonce with every authorization request (allauth sends none); ``SSOOAuth2Adapter`` verifies
the ID token itself (accounts.sso.tokens) — signature included, which allauth skips when it fetched the token — and
insists that the discovery document and the userinfo answer agree with it. The adapter in accounts.sso.adapter hands
out ``SSOProvider`` wherever allauth asks for an OpenID Connect provider.
"""

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import HttpRequest, HttpResponse
from requests import RequestException

from accounts.sso import tokens
from accounts.sso.refusals import SSORefused

# Nonces of the sign-ins this browser started, by allauth's state id: the callback finds its nonce through the state
# the provider sends back, before allauth looks the account up (and writes to it).
NONCES_SESSION_KEY = "sso_nonces"
MAX_PENDING_NONCES = 10
REQUIRED_DISCOVERY_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


class SSOOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    @property
    def openid_config(self) -> dict:
        config = super().openid_config
        missing = [name for name in REQUIRED_DISCOVERY_FIELDS if not isinstance(config.get(name), str)]
        if missing:
            raise SSORefused("provider_error", f"the discovery document lacks {', '.join(missing)}")
        # OpenID Connect Discovery 4.3: the document must name the issuer it was fetched from, or a document served
        # elsewhere could vouch for another issuer's tokens.
        issuer = str(config.get("issuer", "")).rstrip("/")
        if issuer + "/.well-known/openid-configuration" != self.get_provider().server_url:
            raise SSORefused("issuer_mismatch", f"discovery names issuer {issuer!r}")
        return config

    def complete_login(self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs) -> SocialLogin:
        id_token = kwargs["response"].get("id_token")
        if not isinstance(id_token, str):
            raise SSORefused("missing_claim", "the token response has no id_token")
        config = self.openid_config
        claims = tokens.verify_id_token(
            id_token, jwks=self._get_json(config["jwks_uri"]), issuer=config["issuer"], client_id=app.client_id
        )
        tokens.nonce_consume(claims, expected=self._pop_nonce(request))
        data = {"id_token": claims}
        if app.settings.get("fetch_userinfo", True):
            userinfo = self._get_json(self.profile_url, headers={"Authorization": f"Bearer {token.token}"})
            # OpenID Connect Core 5.3.2: a userinfo answer about someone else must not be used.
            if userinfo.get("sub") != claims["sub"]:
                raise SSORefused("subject_mismatch", "userinfo is about another subject")
            data["userinfo"] = userinfo
        return self.get_provider().sociallogin_from_response(request, data)

    def _get_json(self, url: str, headers: dict | None = None) -> dict:
        with get_adapter().get_requests_session() as session:
            response = session.get(url, headers=headers)
            response.raise_for_status()
            body = response.json()
        if not isinstance(body, dict):
            raise SSORefused("provider_error", f"{url} did not answer a JSON object")
        return body

    def _pop_nonce(self, request: HttpRequest) -> str | None:
        pending = request.session.get(NONCES_SESSION_KEY) or {}
        nonce = pending.pop(request.GET.get("state", ""), None)
        request.session[NONCES_SESSION_KEY] = pending
        return nonce


class SSOProvider(OpenIDConnectProvider):
    oauth2_adapter_class = SSOOAuth2Adapter
    # Signing in by posting an ID token (allauth's headless API) would bypass the nonce: not offered.
    supports_token_authentication = False

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs) -> HttpResponse:
        nonce = tokens.nonce_new()
        state_id = kwargs.pop("state_id", None) or get_adapter().generate_state_param({})
        auth_params = kwargs.pop("auth_params", None)
        auth_params = {**(self.get_auth_params() if auth_params is None else auth_params), "nonce": nonce}
        _remember_nonce(request, state_id, nonce)
        try:
            return super().redirect(
                request, process, next_url, data, state_id=state_id, auth_params=auth_params, **kwargs
            )
        except (OAuth2Error, RequestException) as exc:  # the provider's discovery document is unreachable or wrong
            return render_authentication_error(request, self, exception=exc)

    def verify_token(self, request: HttpRequest, token) -> SocialLogin:
        raise get_adapter().validation_error("invalid_token")


def _remember_nonce(request: HttpRequest, state_id: str, nonce: str) -> None:
    pending = request.session.get(NONCES_SESSION_KEY) or {}
    pending[state_id] = nonce
    # Sign-ins abandoned half-way leave theirs behind: keep the latest few, as allauth does with its states.
    request.session[NONCES_SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING_NONCES:])
