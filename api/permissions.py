"""Who may call what: the user's Django permissions, exactly those the web UI checks."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

E_FORBIDDEN = "Your role does not allow this: it needs the permission {perms}."


class ModelPermissions(BasePermission):
    """Signed in (401 otherwise) and holding every permission the view names for the method (403).

    Views declare ``required_perms = {"GET": [...], "POST": [...], ...}``; a method not listed
    needs nothing more than a signed-in user.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        perms = getattr(view, "required_perms", {}).get(request.method, ())
        if perms and not request.user.has_perms(perms):
            self.message = E_FORBIDDEN.format(perms=", ".join(perms))
            return False
        return True
