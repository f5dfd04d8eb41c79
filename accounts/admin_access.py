"""Admin-site permissions from roles, not Django's per-model permission rows."""

from collections.abc import Callable

from django.http import HttpRequest

from accounts.permissions import can_manage_users


def _nobody(user) -> bool:
    return False


class RoleGatedReadOnly:
    """A ModelAdmin mixin: visible to whom ``view_if`` admits, deletable by whom ``delete_if`` admits, never added or
    edited through the admin (those changes go through services that validate and audit them)."""

    view_if: Callable = staticmethod(can_manage_users)
    delete_if: Callable = staticmethod(_nobody)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.view_if(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.view_if(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.delete_if(request.user)
