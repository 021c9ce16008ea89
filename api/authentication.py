"""``Authorization: Bearer <key>`` for Django REST framework."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from . import tokens

E_BAD_TOKEN = "The API token is not valid: it is unknown, revoked, or its user is inactive."


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session may still authenticate the request
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(E_BAD_TOKEN)
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(E_BAD_TOKEN) from None
        token = tokens.authenticate_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed(E_BAD_TOKEN)
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes an anonymous request 401 (with WWW-Authenticate) rather than 403.
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token from /api/tokens/."}
