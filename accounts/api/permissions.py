from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey, ApiKeyScope
from accounts.permissions import has_capability, missing_scope


class KeyScopeRequired(BasePermission):
    """When the caller authenticated with an API key, the key must carry the scope the view asks for.

    Views declare ``required_scopes = {"GET": "read", "POST": "chat", …}``; a method absent from the mapping needs no
    particular scope. Without the attribute, reads need ``read`` and writes are refused to keys. Session callers
    (the browser) have every scope.
    """

    def has_permission(self, request: Request, view) -> bool:
        if not isinstance(request.auth, ApiKey) or not _handles(view, request.method):
            return True  # a method the view lacks gets DRF's 405 (with Allow), not a refusal that hides it
        required = getattr(view, "required_scopes", None)
        if required is None:
            required = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ, "OPTIONS": ApiKeyScope.READ}
            if request.method not in required:
                self.message = "API keys cannot do this; sign in instead."
                return False
        scope = required.get(request.method)
        reason = missing_scope(request.auth, scope) if scope is not None else None
        if reason is None:
            return True
        self.message = reason
        return False


def _handles(view, method: str) -> bool:
    return method.lower() in view.http_method_names and hasattr(view, method.lower())


def requires(capability: str, message: str) -> type[BasePermission]:
    """A permission class allowing only users whose role grants ``capability``."""

    class RequiresCapability(BasePermission):
        def has_permission(self, request: Request, view) -> bool:
            return has_capability(request.user, capability)

    RequiresCapability.message = message
    RequiresCapability.__name__ = f"Requires_{capability}"
    return RequiresCapability
