"""The README's complete TOML example loads, and every table in it takes effect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cencori_core import Router

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_toml() -> str:
    text = README.read_text()
    section = text[text.index("## Configuration file"):]
    found = re.search(r"```toml\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_readme_toml_has_every_table() -> None:
    text = readme_toml()
    for table in ("providers", "fallbacks", "retry", "policies", "ledger", "redis", "telemetry",
                  "router", "deployments", "context_window_fallbacks", "cooldown", "plugins",
                  "prices", "budgets", "rate_limits", "cache"):
        assert re.search(rf"^(\[+{table}[.\]]|{table} =)", text, re.M), table


def test_readme_toml_loads(tmp_path: Path, redis_server: Any,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-0123456789")
    path = tmp_path / "cencori.toml"
    path.write_text(readme_toml().replace("redis://127.0.0.1:6379/0", redis_server.url(5)))
    router = Router.from_config(path)
    try:
        assert set(router.loaded_plugins) == {"openai", "anthropic", "google", "mistral",
                                              "cohere"}
        cfg = router._registry.configs
        assert cfg["openai"].options == {"organization": "org-123"}
        assert cfg["openai"].client_options == {"default_query": {"source": "cencori"}}
        assert cfg["openai"].api_key is not None and cfg["openai"].timeout == 20
        assert cfg["anthropic"].options == {"api_version": "2023-06-01"}
        assert cfg["local"].type == "openai_compatible"
        assert router.timeout == 30
        assert router._fallbacks == {"gpt-4o": ["claude-sonnet-4", "gemini-2.5-flash"],
                                     "*": ["echo/echo"]}
        assert router._context_window_fallbacks == {"gpt-4o": "gpt-4.1"}
        assert router.retry.max_attempts == 3
        assert [d.name for d in router._registry.deployments["fast"]] == ["east", "on-prem"]
        assert len(router.policies) == 2
        assert (tmp_path / "usage.db").exists()
        assert router.cache is not None and router.cache.stats()["backend"] == "redis"
        assert router.resolve("local/llama3.2").provider == "local"
    finally:
        router.close()
