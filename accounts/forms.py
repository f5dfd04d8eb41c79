from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from accounts.models import ApiKeyScope
from accounts.throttling import record_failed_login, seconds_until_login_allowed


class ThrottledAuthenticationForm(AuthenticationForm):
    """Sign-in that refuses to check passwords after too many failures for the username or from the address."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed sign-in attempts. Try again in %(minutes)d minute(s).",
        "suspended": "This account is suspended. Contact an administrator.",
        "password_login_off": "Signing in with a password is turned off here. Use single sign-on.",
    }

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        if not settings.PASSWORD_LOGIN_ENABLED and username not in settings.PASSWORD_LOGIN_BREAK_GLASS_USERS:
            # Refused before the password is looked at, so it cannot be probed either.
            raise forms.ValidationError(self.error_messages["password_login_off"], code="password_login_off")
        wait = seconds_until_login_allowed(self.request, username)
        if wait > 0:
            raise forms.ValidationError(
                self.error_messages["throttled"], code="throttled", params={"minutes": max(1, -(-wait // 60))}
            )
        try:
            return super().clean()
        except forms.ValidationError:
            record_failed_login(self.request, username)
            self._explain_suspension(username)
            raise

    def _explain_suspension(self, username: str) -> None:
        # Only someone who knows the password learns that the account is suspended.
        user = get_user_model().objects.filter(username=username).first()
        if user is not None and user.is_suspended and user.check_password(self.cleaned_data.get("password") or ""):
            raise forms.ValidationError(self.error_messages["suspended"], code="suspended")


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="For password resets and notices.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “CI pipeline”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiKeyScope.READ]
    )
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave empty for a key that does not expire."
    )
