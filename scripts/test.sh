#!/usr/bin/env bash
# Installs everything the test suite needs (the package with every extra, the example
# third-party plugin, Redis, PostgreSQL and Chromium from Debian's packages) and runs the whole
# suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" -e ".[dev]"
# the third-party example plugin depends on cencori-core, which is the editable install above
"${PIP[@]}" --no-deps ./tests/example_plugin
# Debian packages the tests need: a real Redis server (the Redis store tests), a real PostgreSQL
# server (the PostgreSQL ledger; tests/support/pg_server.py starts a private cluster) and a
# headless Chromium (the HTML usage report is rendered and screenshotted).
MISSING=()
command -v redis-server >/dev/null 2>&1 || MISSING+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || MISSING+=(postgresql)
command -v chromium >/dev/null 2>&1 || MISSING+=(chromium)
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "installing ${MISSING[*]} (Debian packages) for the tests" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}" >/dev/null
fi
# The package and the plugins are typed end to end: mypy --strict must stay clean.
.venv/bin/python -m mypy --strict cencori_core plugins
# The API reference (pdoc, from the docstrings) must build without a warning: build/reference.
.venv/bin/python scripts/build_reference.py build/reference
exec .venv/bin/python -m pytest "$@"
