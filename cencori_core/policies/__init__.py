"""Built-in policies (one module each), usable as ``Router(policies=[PII(mode="redact")])``.

Every policy is a plain object with ``@hookimpl`` methods; ``Router(policies=[a, b])`` runs them
in list order, and the TOML tables ``[policies.<name>]`` switch them on (``BY_NAME``). Decisions
land on ``response.policy_decisions`` (policy, rule, action, count: never the values). A policy
whose own code fails blocks the call (``rule="policy_error"``) unless built with
``fail_open=True``.

=============  ================  ====================  ==========================================
TOML name      class             modes (default first)  what
=============  ================  ====================  ==========================================
``pii``        :class:`PII`      redact, block, flag    e-mail, phone, card (Luhn), IBAN (mod-97),
                                                        SSN, IP addresses
``secrets``    :class:`Secrets`  block, redact, flag    key shapes, PEM, JWT, ``password=``, the
                                                        router's own keys
``injection``  :class:`PromptInjection`  flag, block    heuristic score over rule ids
``access``     :class:`Access`   block, flag            model/provider/tool lists, size caps
``output``     :class:`OutputGuard`  flag, block        tool-call schemas, system-prompt canary
=============  ================  ====================  ==========================================
"""

from __future__ import annotations

from typing import Any

from ._base import Policy
from .access import Access
from .injection import PromptInjection
from .output import OutputGuard
from .pii import PII
from .secrets import Secrets

__all__ = ["PII", "Secrets", "PromptInjection", "Access", "OutputGuard", "Policy", "BY_NAME",
           "default_policies"]

#: TOML table name → policy class (``[policies.pii]``).
BY_NAME: dict[str, Any] = {
    "pii": PII,
    "secrets": Secrets,
    "injection": PromptInjection,
    "access": Access,
    "output": OutputGuard,
}


def default_policies() -> list[Policy]:
    """The default set, in the order they should run: secrets (block) first so a key is never
    rewritten into a placeholder that hides it, then PII (redact), then prompt injection (flag)."""
    return [Secrets(), PII(), PromptInjection()]
