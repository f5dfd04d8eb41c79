"""What the sign-in page shows of single sign-on: a button per configured provider."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse


@dataclass(frozen=True)
class SignInButton:
    name: str
    url: str


def _apps() -> list[dict]:
    return settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])


def sign_in_buttons() -> list[SignInButton]:
    return [
        SignInButton(name=app["name"], url=reverse("openid_connect_login", kwargs={"provider_id": app["provider_id"]}))
        for app in _apps()
    ]


def provider_origins() -> list[str]:
    """Where the buttons' redirects lead: each provider's issuer origin, where its authorization endpoint lives (for
    the page's form-action)."""
    origins = []
    for app in _apps():
        parts = urlsplit(app["settings"]["server_url"])
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))
