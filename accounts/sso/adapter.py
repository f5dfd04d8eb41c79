"""allauth's hooks, answered by our rules (docs/sso.md): who may sign in through single sign-on, as which account
and with which role. Every sign-in, sign-up, link and refusal leaves an audit event; every refusal shows one page."""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthError, AuthProcess
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from requests import RequestException

from accounts import selectors, services
from accounts.http import client_ip
from accounts.models import AuditAction, User
from accounts.sso import rules
from accounts.sso.provider import SSOProvider
from accounts.sso.refusals import REASONS, SSORefused

logger = logging.getLogger(__name__)


class SSOAdapter(DefaultSocialAccountAdapter):
    def get_provider(self, request: HttpRequest, provider, client_id=None):
        found = super().get_provider(request, provider, client_id=client_id)
        if type(found) is OpenIDConnectProvider:  # allauth's, everywhere it is asked for: ours checks more
            return SSOProvider(request, app=found.app)
        return found

    def list_apps(self, request: HttpRequest, provider=None, client_id=None) -> list[SocialApp]:
        # Providers and their secrets come from the environment alone (OIDC_PROVIDERS): database rows are ignored.
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        return [app for app in apps if app.pk is None]

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None) -> None:
        reason, detail = _reason_of(request, error, exception, extra_context or {})
        raise ImmediateHttpResponse(refuse(request, provider=provider.sub_id, reason=reason, detail=detail))

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        try:
            _admit(request, sociallogin)
        except SSORefused as exc:
            claims = rules.claims_of(sociallogin.account.extra_data)
            response = refuse(
                request,
                provider=sociallogin.account.provider,
                reason=exc.reason,
                detail=exc.detail,
                subject=sociallogin.account.uid,
                email=rules.email_of(claims),
                user=sociallogin.user if sociallogin.is_existing else None,
            )
            raise ImmediateHttpResponse(response) from exc

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return settings.SSO_SIGNUP_ENABLED

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True  # pre_social_login has decided; allauth's own sign-up form is never shown

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None) -> User:
        claims = rules.claims_of(sociallogin.account.extra_data)
        sociallogin.user.username = get_account_adapter(request).generate_unique_username(rules.username_hints(claims))
        user = super().save_user(request, sociallogin, form)
        if settings.SSO_ROLE_CLAIM:
            _sync_role(request, user, sociallogin)
        services.sso_audit(
            action=AuditAction.SSO_SIGNED_UP,
            provider=sociallogin.account.provider,
            subject=sociallogin.account.uid,
            user=user,
            email=user.email,
            ip=client_ip(request),
        )
        return user


class AccountAdapter(DefaultAccountAdapter):
    """allauth's account side: only its sign-in step is used (our own pages do password sign-in and sign-up)."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def post_login(self, request: HttpRequest, user: User, **kwargs) -> HttpResponse:
        response = super().post_login(request, user, **kwargs)
        sociallogin = (kwargs.get("signal_kwargs") or {}).get("sociallogin")
        if sociallogin is not None:
            services.sso_audit(
                action=AuditAction.SSO_SIGNED_IN,
                provider=sociallogin.account.provider,
                subject=sociallogin.account.uid,
                user=user,
                ip=client_ip(request),
            )
        return response


def _admit(request: HttpRequest, sociallogin: SocialLogin) -> None:
    """Decide, before anyone is signed in: the identity's own account, an existing account it may be linked to, or a
    new account. SSORefused otherwise."""
    if sociallogin.state.get("process") != AuthProcess.LOGIN:
        raise SSORefused("unsupported_process", str(sociallogin.state.get("process")))
    if sociallogin.is_existing:  # linked before, by (provider, subject): the e-mail may have changed since
        _check_usable(sociallogin.user)
        if settings.SSO_ROLE_CLAIM:
            _sync_role(request, sociallogin.user, sociallogin)
        return
    claims = rules.claims_of(sociallogin.account.extra_data)
    email = rules.email_of(claims)
    owners = selectors.user_list_with_email(email=email) if email else []
    if owners:
        _link(request, sociallogin, owners, claims)
    else:
        _check_signup(claims)


def _link(request: HttpRequest, sociallogin: SocialLogin, owners: list[User], claims: dict) -> None:
    """An account with this e-mail exists: link the identity to it only when an admin allowed linking and the provider
    vouches for the address; never guess between several accounts."""
    if not settings.SSO_LINK_VERIFIED_EMAIL or len(owners) > 1:
        raise SSORefused("email_taken", f"{len(owners)} account(s) have this address")
    if not rules.email_verified(claims):
        raise SSORefused("email_unverified", "an account has this address; the provider does not vouch for it")
    user = owners[0]
    _check_usable(user)
    if user.username not in settings.PASSWORD_LOGIN_BREAK_GLASS_USERS and user.has_usable_password():
        # Nobody verified the address here: whoever created the account (perhaps not the address's owner) must not
        # keep a password into it. Changing the password also ends that account's other sessions.
        user.set_unusable_password()
        user.save(update_fields=["password"])
    sociallogin.connect(request, user)
    services.sso_audit(
        action=AuditAction.SSO_LINKED,
        provider=sociallogin.account.provider,
        subject=sociallogin.account.uid,
        user=user,
        email=rules.email_of(claims),
        ip=client_ip(request),
    )
    if settings.SSO_ROLE_CLAIM:
        _sync_role(request, user, sociallogin)


def _check_signup(claims: dict) -> None:
    if not settings.SSO_SIGNUP_ENABLED:
        raise SSORefused("signup_closed")
    email = rules.email_of(claims)
    # The domain rule is only as good as the address: it needs a verified one even when sign-up alone would not.
    needs_verified = settings.SSO_REQUIRE_VERIFIED_EMAIL or bool(settings.SSO_ALLOWED_EMAIL_DOMAINS)
    if needs_verified and not (email and rules.email_verified(claims)):
        raise SSORefused("email_unverified", "no verified e-mail address")
    if not rules.email_domain_allowed(email, settings.SSO_ALLOWED_EMAIL_DOMAINS):
        raise SSORefused("domain_not_allowed", email.rpartition("@")[2])


def _check_usable(user: User) -> None:
    if not user.is_active:
        raise SSORefused("inactive")
    if user.is_suspended:
        raise SSORefused("suspended")


def _sync_role(request: HttpRequest, user: User, sociallogin: SocialLogin) -> None:
    """With SSO_ROLE_CLAIM set the provider owns roles: each sign-in applies what its claim maps to (audited when it
    changes)."""
    role = rules.role_from_claims(
        sociallogin.account.extra_data, claim=settings.SSO_ROLE_CLAIM, role_map=settings.SSO_ROLE_MAP
    )
    services.user_role_change(actor=None, user=user, role=role, ip=client_ip(request))


def _reason_of(request: HttpRequest, error, exception, extra_context: dict) -> tuple[str, str]:
    if isinstance(exception, SSORefused):
        return exception.reason, exception.detail
    if isinstance(exception, RequestException):
        return "provider_unreachable", f"{type(exception).__name__}: {exception}"
    if exception is not None:
        return "provider_error", f"{type(exception).__name__}: {exception}"
    if error in (AuthError.CANCELLED, AuthError.DENIED):
        return "cancelled", ""
    if extra_context.get("state") is None:  # allauth found no sign-in of this browser for the returned state
        return "invalid_state", ""
    return "provider_error", str(request.GET.get("error", ""))[:200]


def refuse(
    request: HttpRequest,
    *,
    provider: str,
    reason: str,
    detail: str = "",
    subject: str = "",
    email: str = "",
    user: User | None = None,
) -> HttpResponse:
    """Audit the refusal and answer with the page that explains it (nobody is signed in by the attempt)."""
    services.sso_audit(
        action=AuditAction.SSO_REFUSED,
        provider=provider,
        subject=subject,
        user=user,
        email=email,
        reason=reason,
        detail=detail,
        ip=client_ip(request),
    )
    logger.info("Single sign-on through %s refused: %s (%s)", provider, reason, detail)
    explained = REASONS[reason]
    return render(request, "accounts/sso_refused.html", {"message": explained.message}, status=explained.status)
