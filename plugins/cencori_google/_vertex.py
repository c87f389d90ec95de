"""Vertex AI mode of the google provider: project, location and Google credentials.

Two ways in, as google-genai has them:

- Google credentials (the default): a google-auth ``credentials`` object from the configuration,
  else Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``' service-account
  file, ``gcloud auth application-default login``, the metadata server), loaded here with
  ``google.auth.default`` when the provider is first used, so a machine without them fails then
  with a :class:`ProviderNotConfiguredError` that says how to fix it, before anything is sent.
  The project comes from the configuration, ``GOOGLE_CLOUD_PROJECT`` or the credentials; the
  location from the configuration, ``GOOGLE_CLOUD_LOCATION``, else ``global``.
- Express mode: an API key and no project or credentials (``x-goog-api-key``).

The access token goes out as ``Authorization: Bearer``; :class:`CredentialBoundary` adds the
credentials' current token to the secrets the error boundary masks (a server may echo it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cencori_core.config import ProviderConfig
from cencori_core.errors import ConfigurationError, ProviderNotConfiguredError
from cencori_core.provider import ErrorBoundary, Scrubber, secrets_of

__all__ = ["VertexAuth", "vertex_auth", "CredentialBoundary", "SCOPES"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


@dataclass(frozen=True, slots=True)
class VertexAuth:
    """What ``genai.Client`` gets in Vertex AI mode (``credentials`` None: express mode)."""

    credentials: Any = None
    project: str | None = None
    location: str | None = None


def vertex_auth(config: ProviderConfig, api_key: str | None) -> VertexAuth:
    """The Vertex AI authentication of ``config``, or a clear error (nothing sent yet)."""
    opts = config.options
    name = config.name
    creds = opts.get("credentials")
    project = opts.get("project")
    location = opts.get("location")
    for key, value in (("project", project), ("location", location)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"providers[{name!r}].{key} must be a non-empty string")
    if creds is not None and not hasattr(creds, "before_request"):
        raise ConfigurationError(
            f"providers[{name!r}].credentials must be a google-auth credentials object (for "
            "example google.oauth2.service_account.Credentials.from_service_account_file("
            "...)), not {type(creds).__name__}")
    if creds is None and api_key and not project:
        return VertexAuth(location=location)  # express mode: the key alone
    found = None
    if creds is None:
        creds, found = _default_credentials(name)
    project = (project or os.environ.get("GOOGLE_CLOUD_PROJECT") or found
               or getattr(creds, "project_id", None))
    if not project:
        raise ProviderNotConfiguredError(
            f"provider {name!r} (Vertex AI) needs a Google Cloud project: set 'project' in its "
            "configuration or GOOGLE_CLOUD_PROJECT", provider=name,
            env_vars=("GOOGLE_CLOUD_PROJECT",))
    location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "global"
    return VertexAuth(credentials=creds, project=project, location=location)


def _default_credentials(name: str) -> tuple[Any, str | None]:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError as exc:
        # The library's message names the file or variable it tried; never a secret.
        raise ProviderNotConfiguredError(
            f"provider {name!r} (Vertex AI) found no Google credentials ({exc}): set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service-account file, run 'gcloud auth "
            "application-default login', pass credentials=... in its configuration, or give an "
            "api_key for Vertex AI express mode", provider=name,
            env_vars=("GOOGLE_APPLICATION_CREDENTIALS",)) from None


class CredentialBoundary(ErrorBoundary):
    """The error boundary that also masks the current access token of Google credentials
    (refreshed in place by google-auth, so read when an error is translated)."""

    __slots__ = ("credentials", "config", "_token")

    def __init__(self, base: ErrorBoundary, credentials: Any, config: ProviderConfig) -> None:
        super().__init__(provider=base.provider, map_error=base.map_error,
                         scrubber=base.scrubber)
        self.credentials = credentials
        self.config = config
        self._token: str | None = None

    def translate(self, exc: BaseException, model: str) -> BaseException:
        token = getattr(self.credentials, "token", None)
        if isinstance(token, str) and token and token != self._token:
            self._token = token
            self.scrubber = Scrubber([*secrets_of(self.config), token])
        return super().translate(exc, model)
