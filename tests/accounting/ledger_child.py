"""The process the kill -9 test kills (tests/accounting/test_acct_ledger.py).

It makes chat calls through a Router with ``ledger_path`` for ever, and after each call that
returned writes the count into the first 8 bytes of ``counter_file`` (shared memory the parent
reads after the kill). Once ``signal_after`` calls have returned it prints ``go`` on stdout.

    python ledger_child.py LEDGER_PATH COUNTER_FILE SIGNAL_AFTER
"""

from __future__ import annotations

import mmap
import struct
import sys

from cencori_core import Router
from cencori_core.testing import FakeProvider


def main() -> None:
    ledger_path, counter_file, signal_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(counter_file, "r+b") as f:
        counter = mmap.mmap(f.fileno(), 8)
    router = Router(providers={"local": FakeProvider("local", models=["m"])},
                    load_entrypoints=False, ledger_path=ledger_path)
    msg = [{"role": "user", "content": "hi"}]
    done = 0
    while True:
        router.chat(model="m", messages=msg)
        done += 1
        counter[:8] = struct.pack("<q", done)
        if done == signal_after:
            print("go", flush=True)


if __name__ == "__main__":
    main()
