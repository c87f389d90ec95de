"""Strict configuration end to end: ``options={...}`` reaches the real SDK clients (seen on the
loopback wire servers), and the CLI reports a misspelled key with the file and the table."""

# ruff: noqa: F811  (pytest fixtures imported from their modules are test arguments)

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from anthropic_wire import AnthropicServer
from cohere_wire import CohereServer
from openai_wire import openai_wire  # noqa: F401

from cencori_core import Router

MSG = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"


def test_openai_options_reach_the_sdk_client(openai_wire: Any) -> None:
    router = Router(plugins=["openai"], retry=1, providers={"openai": {
        "api_key": KEY, "base_url": openai_wire.base_url, "organization": "org-7",
        "options": {"default_query": {"tenant": "blue"}}}})
    try:
        router.chat(model="gpt-4o", messages=MSG)
        rec = openai_wire.last()
        assert rec.query.get("tenant") == ["blue"]
        assert rec.headers["openai-organization"] == "org-7"
    finally:
        router.close()


def test_anthropic_and_cohere_options_reach_the_sdk_clients() -> None:
    with AnthropicServer() as anthropic, CohereServer() as cohere:
        router = Router(plugins=["anthropic", "cohere"], retry=1, providers={
            "anthropic": {"api_key": KEY, "base_url": anthropic.base_url,
                          "options": {"default_query": {"tenant": "red"}}},
            "cohere": {"api_key": KEY, "base_url": cohere.base_url,
                       "options": {"client_name": "docs-client"}}})
        try:
            router.chat(model="claude-sonnet-4", messages=MSG)
            assert anthropic.requests[-1].query.get("tenant") == ["red"]
            router.chat(model="command-a", messages=MSG)
            assert cohere.requests[-1].headers.get("x-client-name") == "docs-client"
        finally:
            router.close()


def test_cli_names_the_file_and_table(tmp_path: Path) -> None:
    config = tmp_path / "cencori.toml"
    config.write_text('[providers.openai]\nbse_url = "http://127.0.0.1:9/v1"\n')
    script = os.path.join(os.path.dirname(sys.executable), "cencori")  # the installed script
    env = {**os.environ, "CENCORI_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    out = subprocess.run([script, "--config", str(config), "models"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert str(config) in line and "[providers.openai].bse_url" in line
    assert "did you mean 'base_url'" in line
