from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import ApiKeyCreateForm, SignupForm, ThrottledAuthenticationForm
from accounts.http import client_ip
from accounts.permissions import access_api_key, can_manage_api_keys, capabilities_of
from accounts.policies import policy_for
from accounts.sso.buttons import provider_origins, sign_in_buttons
from core.errors import ServiceError


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        # With password sign-in off, the form appears only for break-glass accounts (?password=1) and to show why a
        # password was refused.
        password_form = (
            settings.PASSWORD_LOGIN_ENABLED
            or context["form"].is_bound
            or (bool(settings.PASSWORD_LOGIN_BREAK_GLASS_USERS) and self.request.GET.get("password") == "1")
        )
        return context | {
            "signup_enabled": settings.SIGNUP_ENABLED and settings.PASSWORD_LOGIN_ENABLED,
            "password_form": password_form,
            "break_glass": bool(settings.PASSWORD_LOGIN_BREAK_GLASS_USERS) and not settings.PASSWORD_LOGIN_ENABLED,
            "sso_buttons": sign_in_buttons(),
        }

    def render_to_response(self, context: dict, **kwargs) -> HttpResponse:
        response = super().render_to_response(context, **kwargs)
        response.csp_form_action = provider_origins()  # the buttons' POSTs are answered by redirects to providers
        return response


@require_http_methods(["GET", "HEAD"])
def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """The admin's login is the one sign-in page (with its failed-attempt throttling). A signed-in person arrives
    here only because the admin turned them away; sending them on to the sign-in page would bounce them straight back
    to ``next`` (it forwards signed-in people there), round and round."""
    if request.user.is_authenticated:
        raise PermissionDenied(f"You are signed in as {request.user.get_username()}, who has no access to the admin.")
    query = request.GET.urlencode()
    return redirect(f"{reverse('accounts:login')}?{query}" if query else reverse("accounts:login"))


class SignOutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        services.password_changed(user=self.request.user, ip=client_ip(self.request))
        messages.success(self.request, "Your password has been changed.")
        return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.SIGNUP_ENABLED or not settings.PASSWORD_LOGIN_ENABLED:
        # Without password sign-in, an account made here could never sign in: new people come through single sign-on.
        context = {"sso": not settings.PASSWORD_LOGIN_ENABLED and bool(sign_in_buttons())}
        return render(request, "accounts/signup_closed.html", context, status=403)
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_signup(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="accounts.authentication.SuspensionAwareBackend")
        messages.success(request, f"Welcome, {user.username}! Your account is ready.")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    context = {"policy": policy_for(request.user), "capabilities": sorted(capabilities_of(request.user))}
    return render(request, "accounts/account.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    if not can_manage_api_keys(request.user):
        raise PermissionDenied("Your role does not allow API keys.")
    form = ApiKeyCreateForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.api_key_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                ip=client_ip(request),
            )
        except ServiceError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            form = ApiKeyCreateForm()
    context = {"form": form, "keys": selectors.api_key_list(user=request.user), "created": created, "secret": secret}
    # The secret appears in this one response and nowhere else; never cache it.
    response = render(request, "accounts/api_keys.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = access_api_key(request.user, key_id)
    services.api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
    messages.success(request, f"Key “{api_key.name}” revoked. It stopped working immediately.")
    return redirect("accounts:api-keys")
