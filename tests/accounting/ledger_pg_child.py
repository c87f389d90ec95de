"""A worker process for tests/accounting/test_acct_ledger_pg.py.

``ledger_pg_child.py URL STATE_DIR calls N COUNT``: a Router with the PostgreSQL ledger makes
COUNT calls, closes, and prints the request ids as JSON.
``ledger_pg_child.py URL STATE_DIR hold N COUNT``: adds COUNT records, prints ``added COUNT``
and waits to be killed (its writer is blocked by a lock the test holds).
"""

from __future__ import annotations

import json
import sys
import time

from cencori_core import Router, Usage
from cencori_core.accounting.ledger_pg import PostgresLedger
from cencori_core.testing import FakeProvider, UsageRecorder
from cencori_core.types import UsageRecord


def main() -> None:
    url, state, mode, n, count = sys.argv[1:6]
    if mode == "calls":
        import os

        os.environ["CENCORI_HOME"] = state
        recorder = UsageRecorder()
        fake = FakeProvider("local", models=["mine"])
        with Router(providers={"local": fake}, load_entrypoints=False, plugins=[recorder],
                    prices={"mine": {"input": 1, "output": 2}}, ledger_url=url) as r:
            for i in range(int(count)):
                r.chat(model="mine", messages=[{"role": "user", "content": f"{n}-{i}"}])
        print(json.dumps([x.request_id for x in recorder.records]))
        return
    ledger = PostgresLedger(url, state_dir=state)
    for i in range(int(count)):
        ledger.add(UsageRecord(request_id=f"held_{i}", project=None, user=None, provider="p",
                               model="m", operation="chat", usage=Usage.of(1, 1), cost=None,
                               status="ok", latency_ms=1.0, attempts=[], time=time.time()))
    print(f"added {count}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
