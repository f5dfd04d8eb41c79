"""DRF: every API request counts on the rate limits of its user or API key (see accounts.ratelimits)."""

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts import ratelimits
from accounts.models import ApiKey


class PolicyRateThrottle(BaseThrottle):
    """Checked after authentication: every request counts on the general limit. Model requests count on the role's
    requests_per_minute too, in the admission (chat.admission), which every entry point passes. Over a limit, a
    ServiceError answers 429 with Retry-After, in the API's error shape."""

    def allow_request(self, request: Request, view) -> bool:
        if not request.user.is_authenticated:
            decision = ratelimits.anonymous_request(request._request)
            if not decision.allowed:
                raise ratelimits.refusal(decision)
            return True
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        ratelimits.enforce(request.user, api_key.pk if api_key else None)
        return True
