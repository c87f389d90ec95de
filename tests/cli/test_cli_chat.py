"""``cencori chat``: streaming, stdin, options, ``-c/--continue``, ``--json``, errors."""

# ruff: noqa: F811  (pytest fixtures imported from cli_run are test arguments)

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading

from cli_run import SCRIPT, cencori, cli_env, home  # noqa: F401 (fixtures)
from loopback import Reply
from openai_wire import ChatReply, OpenAIWire, chat_sse_events, openai_wire  # noqa: F401


def _config(tmp_path, wire: OpenAIWire) -> str:
    path = tmp_path / "cencori.toml"
    path.write_text('[providers.openai]\napi_key = "sk-test-cli-0123456789"\n'
                    f'base_url = "{wire.base_url}"\n')
    return str(path)


def test_chat_streams_the_reply_on_stdout_and_the_summary_on_stderr(cencori):
    out = cencori("chat", "Hello", "-m", "echo/echo")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "echo: Hello\n"  # the answer alone: `> file` keeps only it
    (summary,) = out.stderr.splitlines()
    assert "[echo/echo]" in summary and "tokens: 1 in, 2 out" in summary
    assert "cost: unpriced" in summary


def test_chat_reads_the_prompt_from_stdin_when_none_is_given(cencori):
    out = cencori("chat", "--no-stream", stdin="from a pipe")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "echo: from a pipe\n"
    out = cencori("chat", "-", stdin="dash reads stdin")
    assert out.stdout == "echo: dash reads stdin\n"
    out = cencori("chat", stdin="   \n")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("cencori: error: give a prompt")


def test_chat_json_is_one_object_with_numbers(tmp_path, cencori, openai_wire):  # noqa: F811
    openai_wire.chat_reply("Priced.", usage={"prompt_tokens": 1000, "completion_tokens": 100})
    out = cencori("--config", _config(tmp_path, openai_wire), "chat", "--json", "Hi", "-m",
                  "gpt-4o")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # the whole stdout is one JSON object
    assert data["content"] == "Priced." and data["usage"]["total_tokens"] == 1100
    cost = data["cost"]
    assert all(isinstance(cost[k], float) for k in ("input", "output", "total")), cost
    assert cost["total"] > 0 and abs(cost["total"] - cost["input"] - cost["output"]) < 1e-12
    assert isinstance(data["latency_ms"], float)
    assert out.stderr == ""


def test_system_temperature_and_max_tokens_are_sent(tmp_path, cencori, openai_wire):  # noqa: F811
    out = cencori("chat", "Hi", "-m", "gpt-4o", "--system", "Be brief.", "--temperature",
                  "0.3", "--max-tokens", "42", "--config", _config(tmp_path, openai_wire))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "echo: Hi\n"
    body = openai_wire.last("/chat/completions").json
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Hi"}]
    assert body["temperature"] == 0.3
    assert 42 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    assert body["stream"] is True


def test_continue_sends_the_previous_turns(tmp_path, home, cencori, openai_wire):  # noqa: F811
    config = _config(tmp_path, openai_wire)
    openai_wire.chat_reply("Paris.")
    openai_wire.chat_reply("About 2 million.")
    openai_wire.chat_reply("Hello again.")
    out = cencori("--config", config, "chat", "Capital of France?", "-m", "gpt-4o", "-s",
                  "Answer in one line.")
    assert out.returncode == 0, out.stderr
    out = cencori("--config", config, "chat", "-c", "Its population?")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "About 2 million.\n"
    second = openai_wire.last("/chat/completions").json
    assert second["model"] == "gpt-4o"  # the conversation's model
    assert second["messages"] == [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "Its population?"}]
    saved = home / "conversation.json"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"  # it holds the user's prompts
    # Without -c a new conversation starts.
    out = cencori("--config", config, "chat", "Hi", "-m", "gpt-4o")
    assert openai_wire.last("/chat/completions").json["messages"] == [
        {"role": "user", "content": "Hi"}]
    assert len(json.loads(saved.read_text())["messages"]) == 2


def test_continue_without_a_conversation_is_a_clear_error(home, cencori):
    out = cencori("chat", "-c", "more")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert "no conversation to continue" in line and "conversation.json" in line
    home.mkdir(parents=True)
    (home / "conversation.json").write_text("{not json")
    out = cencori("chat", "-c", "more")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "start a new one without -c" in out.stderr


def test_continue_on_echo_keeps_growing(home, cencori):
    assert cencori("chat", "one").returncode == 0
    assert cencori("chat", "-c", "two", "--no-stream").returncode == 0
    out = cencori("chat", "-c", "three", "--json")
    data = json.loads(out.stdout)
    assert data["content"] == "echo: three"
    saved = json.loads((home / "conversation.json").read_text())
    assert [m["content"] for m in saved["messages"]] == [
        "one", "echo: one", "two", "echo: two", "three", "echo: three"]
    # a new --system replaces the conversation's, first in line
    assert cencori("chat", "-c", "four", "-s", "terse").returncode == 0
    assert cencori("chat", "-c", "five", "-s", "verbose").returncode == 0
    saved = json.loads((home / "conversation.json").read_text())
    assert saved["messages"][0] == {"role": "system", "content": "verbose"}
    assert [m["role"] for m in saved["messages"]].count("system") == 1
    assert len(saved["messages"]) == 11


def test_stream_is_written_as_it_arrives(tmp_path, home, openai_wire):  # noqa: F811
    """The server holds the rest of the answer until the test has read the first piece from
    the CLI's stdout (a pipe): a CLI that buffered would never show it (the hold is released
    after 60 s only so that such a failure ends)."""
    released = threading.Event()
    seen_before_release: list[bool] = []

    def gated(rec):
        events = chat_sse_events(ChatReply("first-piece|second-piece", pieces=[
            "first-piece|", "second-piece"]), rec.json)

        def gen():
            for ev in events:
                yield ev
                delta = (ev.get("choices") or [{}])[0].get("delta", {})
                if delta.get("content") == "first-piece|":
                    seen_before_release.append(released.wait(60))
        return Reply.sse(gen())

    openai_wire.script("/chat/completions", gated)
    proc = subprocess.Popen([SCRIPT, "--config", _config(tmp_path, openai_wire), "chat", "go",
                             "-m", "gpt-4o"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=cli_env(home))
    pieces: queue.Queue[bytes] = queue.Queue()

    def reader():
        while data := os.read(proc.stdout.fileno(), 64):
            pieces.put(data)
        pieces.put(b"")

    threading.Thread(target=reader, daemon=True).start()
    got = b""
    while b"first-piece|" not in got:
        data = pieces.get(timeout=60)
        assert data, f"stdout closed before the first piece: {got!r}"
        got += data
    assert b"second-piece" not in got
    released.set()
    while data := pieces.get(timeout=60):
        got += data
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert got == b"first-piece|second-piece\n"
    assert seen_before_release == [True]


def test_chat_errors_are_one_line_exit_2(cencori):
    out = cencori("chat", "Hello", "-m", "nosuchmodel-4x")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("cencori: error: unknown model")
    out = cencori("chat", "Hello", "-t", "9")
    assert out.returncode == 2 and "temperature" in out.stderr
    assert len(out.stderr.splitlines()) == 1
    out = cencori("chat", "Hello", "--max-tokens", "many")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_a_stream_cut_midway_ends_the_line_then_reports(tmp_path, cencori, openai_wire):  # noqa: F811
    openai_wire.chat_reply("one two three four five six", chunk_size=4, cut_after=3)
    out = cencori("chat", "go", "-m", "gpt-4o", "--config", _config(tmp_path, openai_wire))
    assert out.returncode == 2
    assert out.stdout.endswith("\n") and out.stdout.strip()  # what arrived, on its own line
    (line,) = out.stderr.splitlines()
    assert line.startswith("cencori: error:")
