"""Built-in policies (one module each), usable as ``Router(policies=[PII(mode="redact")])``."""

from __future__ import annotations

from typing import Any

__all__ = ["BY_NAME"]

#: TOML table name → policy class (``[policies.pii]``), filled as policies land.
BY_NAME: dict[str, Any] = {}
