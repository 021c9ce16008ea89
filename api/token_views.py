"""The API tokens page: a signed-in user creates, lists and revokes their own tokens."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import tokens
from .models import ApiToken

NEW_KEY_SESSION = "api_new_token_key"


@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    # The new key lives in the session for exactly one page view: shown once, then gone.
    new_key = request.session.pop(NEW_KEY_SESSION, None)
    context = {
        "tokens": list(ApiToken.objects.filter(user=request.user)),
        "new_key": new_key,
        "name_max_length": tokens.NAME_MAX_LENGTH,
    }
    return render(request, "api/tokens.html", context)


@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    try:
        token, key = tokens.token_create(user=request.user, name=request.POST.get("name", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("api:tokens")
    request.session[NEW_KEY_SESSION] = key
    messages.success(request, f"Token {token.name!r} created. Copy its key now: it is shown only once.")
    return redirect("api:tokens")


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if tokens.token_revoke(user=request.user, token_id=pk):
        messages.success(request, "Token revoked: requests with its key are refused from now on.")
    else:
        messages.error(request, "No such active token of yours.")
    return redirect("api:tokens")
