"""``--config`` (and ``$CENCORI_CONFIG``) is honoured by every subcommand, before or after it;
``cencori keys`` says how to add a key the CLI way."""

# ruff: noqa: F811  (pytest fixtures imported from cli_run are test arguments)

from __future__ import annotations

import json

from cli_run import cencori, home  # noqa: F401 (fixtures)
from openai_wire import openai_wire  # noqa: F401

from cencori_core import Router


def _write(tmp_path, text: str):
    path = tmp_path / "conf" / "cencori.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_usage_and_chat_use_the_configs_ledger(tmp_path, home, cencori):
    config = _write(tmp_path, '[ledger]\npath = "team.db"\n')  # relative to the file
    team = config.parent / "team.db"
    assert cencori("chat", "hi", "--config", str(config)).returncode == 0
    assert cencori("--config", str(config), "chat", "again").returncode == 0
    assert team.exists() and not (home / "cencori.db").exists()
    for args in (["--config", str(config), "usage", "--json"],
                 ["usage", "--config", str(config), "--json"]):
        out = cencori(*args)
        assert out.returncode == 0, out.stderr
        (row,) = json.loads(out.stdout)
        assert row["key"] == "echo" and row["calls"] == 2
    out = cencori("usage", "--json", CENCORI_CONFIG=str(config))
    assert json.loads(out.stdout)[0]["calls"] == 2
    # without the config: the home ledger, which has nothing
    out = cencori("usage")
    assert "no usage recorded in" in out.stdout and str(home) in out.stdout
    # --ledger beats the config
    out = cencori("usage", "--config", str(config), "--ledger", str(tmp_path / "x.db"))
    assert "no usage recorded" in out.stdout


def test_keys_use_the_configs_store(tmp_path, home, cencori):
    config = _write(tmp_path, '[ledger]\npath = "team.db"\n')
    out = cencori("keys", "create", "acme", "--config", str(config))
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("csk_") and not (home / "cencori.db").exists()
    listed = cencori("--config", str(config), "keys", "list")
    assert key[:16] in listed.stdout and key not in listed.stdout
    assert "no project keys yet" in cencori("keys", "list").stdout
    # the application built from the same file accepts the key
    with Router.from_config(config) as router:
        r = router.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}],
                        api_key=key)
        assert r.content == "echo: hi"
    revoked = cencori("keys", "revoke", key[:16], "--config", str(config))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout


def test_keys_use_the_configs_redis(tmp_path, home, cencori, redis_server):
    config = _write(tmp_path, f'[redis]\nurl = "{redis_server.url(7)}"\n')
    out = cencori("keys", "create", "redis-acme-cli", "--config", str(config))
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    with Router(redis_url=redis_server.url(7), load_entrypoints=False) as router:
        assert router.chat(model="echo/echo", messages=[{"role": "user", "content": "x"}],
                           api_key=key).content
    assert "redis-acme-cli" not in cencori("keys", "list").stdout  # not in the home file
    out = cencori("--config", str(config), "keys", "list", "--json")
    names = [p["name"] for p in json.loads(out.stdout)]
    assert "redis-acme-cli" in names
    assert cencori("keys", "revoke", key, "--config", str(config)).returncode == 0


def test_models_and_chat_use_the_configs_providers(tmp_path, cencori, openai_wire):  # noqa: F811
    config = _write(tmp_path, '[providers.openai]\napi_key = "sk-test-cli-0123456789"\n'
                              f'base_url = "{openai_wire.base_url}"\n')
    rows = {r["model"]: r for r in json.loads(cencori("models", "--json").stdout)}
    assert rows["gpt-4o"]["configured"] is False
    out = cencori("models", "--json", "--config", str(config))
    rows = {r["model"]: r for r in json.loads(out.stdout)}
    assert rows["gpt-4o"]["configured"] is True
    out = cencori("chat", "hello wire", "-m", "gpt-4o", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "echo: hello wire\n" and openai_wire.hits_to("/chat/completions") == 1


def test_a_bad_config_is_one_line_for_every_subcommand(tmp_path, cencori):
    bad = _write(tmp_path, "[ledger\npath = 1\n")
    for args in (["chat", "hi"], ["models"], ["usage"], ["keys", "list"],
                 ["keys", "create", "x"]):
        out = cencori("--config", str(bad), *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        (line,) = out.stderr.splitlines()
        assert line.startswith("cencori: error:") and "cencori.toml" in line, line
    out = cencori("--config", str(tmp_path / "missing.toml"), "usage")
    assert out.returncode == 2 and "config file not found" in out.stderr


def test_existing_project_hint_names_the_cli(cencori):
    assert cencori("keys", "create", "acme").returncode == 0
    out = cencori("keys", "create", "acme", "--budget", "5")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert "project 'acme' already exists" in line
    assert "cencori keys create acme --existing" in line and "router." not in line
    out = cencori("keys", "create", "acme", "--existing")
    assert out.returncode == 0 and out.stdout.startswith("csk_")
    out = cencori("keys", "list", "--json")
    (project,) = json.loads(out.stdout)
    assert len(project["keys"]) == 2


def test_keys_list_json_has_numbers(cencori):
    assert cencori("keys", "create", "beta", "--budget", "2.5", "--rpm", "10").returncode == 0
    (project,) = json.loads(cencori("keys", "list", "--json").stdout)
    assert project["budget"] == 2.5 and isinstance(project["budget"], float)
    assert project["rate_limits"] == {"rpm": 10}
    assert isinstance(project["keys"][0]["created"], float)
    table = cencori("keys", "list").stdout
    assert "$2.5 / total" in table and "rpm=10" in table
