"""Fixtures of the bedrock plugin's test modules (imported by name into each module, so they
stay local to it): one :class:`BedrockServer` per module, reset per test and checked after it
(every request SigV4-signed), the sync/async mode, and an environment without AWS settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bedrock_wire import BedrockServer

__all__ = ["shared_server", "server", "mode", "no_aws"]

AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_BEARER_TOKEN_BEDROCK")


@pytest.fixture(scope="module")
def shared_server() -> Iterator[BedrockServer]:
    with BedrockServer() as s:
        yield s


@pytest.fixture
def server(shared_server: BedrockServer) -> Iterator[BedrockServer]:
    shared_server.reset()
    yield shared_server
    shared_server.gate = None
    assert shared_server.unsigned == []
    for rec in shared_server.requests:  # every request SigV4-signed by boto3
        assert rec.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
        assert rec.headers["x-amz-date"]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> pytest.MonkeyPatch:
    """No AWS settings at all: no variables, empty shared files, no instance metadata."""
    for var in AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


