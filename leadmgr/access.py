"""How a web page checks access: ``require`` for a page without an object (a list, a form that
creates, a bulk action), ``get_for_user`` for one object, which each views module wraps as its
``_get_<thing>_for_user(request, pk, *, perm)``: the only way a view fetches an object by id.

Answers: 403 for a page the user may not use; 404 for an object outside what the user may see
(an outsider is not told it exists), then 403 when they may see it but not do ``perm`` to it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404


def require(request: HttpRequest, *perms: str, any_of: bool = False) -> None:
    """403 unless the user has every one of ``perms`` (``any_of``: at least one)."""
    has = request.user.has_perm
    if not (any(map(has, perms)) if any_of else all(map(has, perms))):
        raise PermissionDenied


def get_for_user(request: HttpRequest, visible: QuerySet, pk: int, *, perm: str) -> Model:
    """The object ``pk`` among ``visible`` (already narrowed to what the user may see: 404 for
    anything else), then 403 without ``perm``."""
    obj = get_object_or_404(visible, pk=pk)
    require(request, perm)
    return obj
