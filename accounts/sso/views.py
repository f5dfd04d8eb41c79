"""The two steps of a single sign-on, as allauth runs them, with our provider's adapter (accounts.sso.provider)."""

from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST
from requests import RequestException

from accounts.sso.provider import SSOOAuth2Adapter


@require_POST  # a sign-in starts from a CSRF-protected form, never from a link someone else planted
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2LoginView.adapter_view(SSOOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such sign-in provider.") from None


@require_GET
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    adapter = SSOOAuth2Adapter(request, provider_id)
    try:
        return OAuth2CallbackView.adapter_view(adapter)(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such sign-in provider.") from None
    except (OAuth2Error, RequestException) as exc:
        # allauth reads the discovery document (to build its token client) before its own error handling starts.
        return render_authentication_error(request, adapter.get_provider(), exception=exc)
