"""Checks shared by the plugins' toolkit tests: where a key would show in an error."""

from __future__ import annotations

import pickle
import traceback

__all__ = ["leaks"]


def leaks(err: BaseException, secret: str) -> list[str]:
    """Where ``secret`` shows: str, repr, the whole traceback chain, the pickle, and the
    attributes and args of every exception in the chain."""
    places = {"str": str(err), "repr": repr(err),
              "traceback": "".join(traceback.format_exception(err)),
              "pickle": repr(pickle.dumps(err))}
    chain: BaseException | None = err
    while chain is not None:
        places[f"chain {type(chain).__name__}"] = repr(vars(chain)) + repr(chain.args)
        chain = chain.__cause__ or chain.__context__
    return [where for where, text in places.items() if secret in text]
