"""Why a single sign-on was refused: one code per reason, what the person is told, and the status of the page.

The code goes into the audit log; the message is safe to show (it never says more than the person could learn from
their own provider).
"""

from dataclasses import dataclass

from allauth.socialaccount.providers.oauth2.client import OAuth2Error


@dataclass(frozen=True)
class Reason:
    message: str
    status: int


_UNVERIFIED = "Your identity provider's answer could not be verified, so you were not signed in."
_RETRY = "The sign-in did not complete. Start again from the sign-in page."

REASONS: dict[str, Reason] = {
    # The provider's answer (401: the identity could not be established).
    "bad_signature": Reason(_UNVERIFIED, 401),
    "unknown_key": Reason(_UNVERIFIED, 401),
    "bad_algorithm": Reason(_UNVERIFIED, 401),
    "wrong_issuer": Reason(_UNVERIFIED, 401),
    "wrong_audience": Reason(_UNVERIFIED, 401),
    "expired": Reason(_UNVERIFIED, 401),
    "not_yet_valid": Reason(_UNVERIFIED, 401),
    "missing_claim": Reason(_UNVERIFIED, 401),
    "malformed_token": Reason(_UNVERIFIED, 401),
    "subject_mismatch": Reason(_UNVERIFIED, 401),
    "nonce_missing": Reason(_UNVERIFIED, 401),
    "nonce_mismatch": Reason(_UNVERIFIED, 401),
    "nonce_reused": Reason(_UNVERIFIED, 401),
    "issuer_mismatch": Reason("The identity provider is misconfigured. Tell an administrator.", 401),
    "provider_unreachable": Reason("The identity provider could not be reached. Try again in a moment.", 401),
    "provider_error": Reason(_RETRY, 401),
    "invalid_state": Reason(_RETRY, 401),
    "cancelled": Reason("The sign-in was cancelled.", 401),
    "unsupported_process": Reason(_RETRY, 401),
    # Our rules (403: the identity is known, the answer is no).
    "email_unverified": Reason(
        "Your identity provider does not confirm that your e-mail address is verified, so no account can be created "
        "or linked for it.",
        403,
    ),
    "email_taken": Reason(
        "An account with your e-mail address already exists here. Sign in to it with its password, or ask an "
        "administrator to link your single sign-on identity to it.",
        403,
    ),
    "domain_not_allowed": Reason("Accounts cannot be created here for e-mail addresses of your domain.", 403),
    "signup_closed": Reason("New accounts cannot be created through single sign-on here.", 403),
    "suspended": Reason("This account is suspended. Contact an administrator.", 403),
    "inactive": Reason("This account is deactivated. Contact an administrator.", 403),
}


class SSORefused(OAuth2Error):
    """A refusal with its reason code. An OAuth2Error, so allauth's callback turns it into its error path (which our
    adapter answers with our page and an audit row)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
