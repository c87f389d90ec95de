"""A second worker process for the scale tests: a Router on the same Redis, driven line by line.

    python scale_child.py REDIS_URL [ROUTER_KWARGS_JSON]

Commands on stdin, one answer line each on stdout:

- ``call KEY``: one chat with ``api_key=KEY``: ``ok`` or the error's class name;
- ``listen``: wait (up to 200 polls of 10 ms) for the change listener: ``yes`` or ``no``;
- ``poll KEY N WAIT``: up to N calls with KEY, WAIT seconds apart, until one is refused:
  ``refused I`` (I: the polls it took) or ``never``;
- ``route MODEL N``: N chats on MODEL: a JSON list of deployment names (or error class names).

Closing its stdin closes the router and ends it.
"""

from __future__ import annotations

import json
import sys
import time

from cencori_core import AuthenticationError, CencoriError, Router

MSG = [{"role": "user", "content": "hi"}]


def main() -> None:
    url = sys.argv[1]
    kwargs = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    router = Router(load_entrypoints=False, redis_url=url, **kwargs)
    out = sys.stdout
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "call":
            try:
                router.chat(model="echo/echo", messages=MSG, api_key=args[0])
                answer = "ok"
            except CencoriError as exc:
                answer = type(exc).__name__
        elif cmd == "listen":
            answer = "no"
            for _ in range(200):
                if router.projects.listening():
                    answer = "yes"
                    break
                time.sleep(0.01)
        elif cmd == "poll":
            key, n, wait = args[0], int(args[1]), float(args[2])
            answer = "never"
            for i in range(1, n + 1):
                time.sleep(wait)
                try:
                    router.chat(model="echo/echo", messages=MSG, api_key=key)
                except AuthenticationError:
                    answer = f"refused {i}"
                    break
        elif cmd == "route":
            names = []
            for _ in range(int(args[1])):
                try:
                    names.append(router.chat(model=args[0], messages=MSG).deployment)
                except CencoriError as exc:
                    names.append(type(exc).__name__)
            answer = json.dumps(names)
        else:
            answer = f"unknown command {cmd}"
        print(answer, file=out, flush=True)
    router.close()


if __name__ == "__main__":
    main()
