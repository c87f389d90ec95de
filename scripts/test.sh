#!/usr/bin/env bash
# Installs everything the test suite needs (the package with every extra, the example
# third-party plugin, a Redis server from Debian's packages) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" -e ".[dev]"
# the third-party example plugin depends on cencori-core, which is the editable install above
"${PIP[@]}" --no-deps ./tests/example_plugin
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (Debian package) for the Redis store tests" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
