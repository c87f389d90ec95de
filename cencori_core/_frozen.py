"""The machinery of the normalized types (:mod:`cencori_core.types`): ``frozen_type`` (a frozen,
slotted, keyword-only dataclass with a fast ``__init__``), ``evolve`` (a fast copy with changes)
and ``to_dict()`` with JSON-safe values."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from decimal import Decimal
from typing import Any, TypeVar, dataclass_transform

__all__ = ["frozen_type", "evolve", "_DictMixin", "_jsonable"]

_MISSING = object()


_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def frozen_type(cls: type[_T]) -> type[_T]:
    """``@dataclass(frozen=True, slots=True, kw_only=True)`` with a faster ``__init__``.

    The dataclass-generated ``__init__`` of a frozen class stores each field through
    ``object.__setattr__`` looked up anew per field: about twice the cost of a mutable class.
    These objects are built on every call and every stream chunk, so the replacement stores
    through each slot's descriptor instead: the same frozen object at half the cost.
    """
    cls = dataclass(frozen=True, slots=True, kw_only=True)(cls)
    # A mutable twin of the class (same layout, no slots of its own, the default
    # __setattr__/__delattr__: both, or CPython keeps the slow slot wrapper): the generated
    # __init__ and copier switch an instance of exactly this class to the twin, store every field
    # with plain attribute stores (specialised by the interpreter, ~10x cheaper than calling a
    # slot's __set__), and switch it back. A user's subclass (another layout) stores through
    # each slot's __set__ instead.
    twin = type(f"_{cls.__name__}Init", (cls,), {
        "__slots__": (), "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__, "__module__": cls.__module__})
    ns: dict[str, Any] = {"_MISSING": _MISSING, "_cls": cls, "_twin": twin,
                          "_set_class": object.__dict__["__class__"].__set__,
                          "_new": object.__new__}
    params, defaults, fast, slow = [], [], [], []
    for f in fields(cls):  # type: ignore[arg-type]
        n = f.name
        if f.default is not MISSING:
            ns[f"_d_{n}"] = f.default
            params.append(f"{n}=_d_{n}")
        elif f.default_factory is not MISSING:
            ns[f"_f_{n}"] = f.default_factory
            params.append(f"{n}=_MISSING")
            defaults.append(f"    if {n} is _MISSING: {n} = _f_{n}()")
        else:
            params.append(n)
        # the slot of an inherited field lives in the base class that declares it
        slot = next(k.__dict__[n] for k in cls.__mro__ if n in k.__dict__)
        ns[f"_s_{n}"] = slot.__set__
        fast.append(f"        self.{n} = {n}")
        slow.append(f"        _s_{n}(self, {n})")
    if len(fast) >= 4:  # switching the class twice costs about three slot stores
        body = defaults + ["    if type(self) is _cls:", "        _set_class(self, _twin)",
                           *fast, "        self.__class__ = _cls", "    else:", *slow]
    else:
        body = defaults + [line[4:] for line in slow]
    src = f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(body or ["    pass"])
    exec(src, ns)  # noqa: S102 - generated from the class's own field names
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__dict__["__init__"].__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    # evolve(): one generated function per type: a twin instance gets every field of the
    # original, then the changes, then becomes the frozen class (a loop over the fields with
    # getattr costs ~3x as much on ChatRequest's 30 fields)
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    src = ("def _copy(obj, ch):\n    new = _new(_twin)\n"
           + "".join(f"    new.{n} = obj.{n}\n" for n in names)
           + "    for k, v in ch.items():\n        setattr(new, k, v)\n"
           + "    new.__class__ = _cls\n    return new")
    exec(src, ns)  # noqa: S102 - generated from the class's own field names
    _COPIERS[cls] = ns["_copy"]
    return cls


# Each frozen type's copier, for evolve().
_COPIERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}


def evolve(obj: _T, **changes: Any) -> _T:
    """A copy of a frozen type's instance with ``changes``: ``dataclasses.replace`` without its
    per-call field introspection and ``__init__`` (the pipeline does this on every attempt).
    No checks run: the changes must already be valid values of those fields."""
    return _COPIERS[type(obj)](obj, changes)  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    # a parsed structured output: a pydantic model or a dataclass
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return _jsonable(dump(mode="json"))
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    return str(value)


class _DictMixin:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Every public attribute under its own name, JSON-safe; ``raw`` is left out."""
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]
            if f.name != "raw" and not f.name.startswith("_")
        }
