"""API clients for the test personas: a real token each, sent as ``Authorization: Bearer``."""

from __future__ import annotations

from django.test import Client

from api import tokens


class ApiClient(Client):
    """A Django test client that sends a bearer key and JSON bodies."""

    def __init__(self, key: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.key = key

    def _base_environ(self, **request):
        environ = super()._base_environ(**request)
        if self.key and "HTTP_AUTHORIZATION" not in environ:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        return environ

    def post_json(self, path, data=None, **kwargs):
        return self.post(
            path, data=data if data is not None else {}, content_type="application/json", **kwargs
        )

    def patch_json(self, path, data=None, **kwargs):
        return self.patch(
            path, data=data if data is not None else {}, content_type="application/json", **kwargs
        )


def api_client(user=None) -> ApiClient:
    if user is None:
        return ApiClient()
    _, key = tokens.token_create(user=user, name="tests")
    return ApiClient(key)
