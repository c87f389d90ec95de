"""Structured output: ``response_format=City`` (a pydantic model, a dataclass, a TypedDict,
``list[X]``: anything pydantic's ``TypeAdapter`` takes) to a JSON schema, the answer back to a
validated ``City``.

::

    type ─▶ OutputSpec (TypeAdapter, strict JSON schema) ─▶ request.response_format (json_schema)
         ─▶ per route: the plugin's native form, or a forced tool call when the catalog says the
            model has no ``json`` capability but has ``tools``
         ─▶ answer text (or the forced tool's arguments) ─▶ adapter.validate_json ─▶ .parsed
            or OutputValidationError(.raw, .errors) ─▶ output_retries: ask again with the errors

pydantic is imported only here, and only when a type is given: ``import cencori_core`` and every
call without one never import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import UnionType
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequestError, MissingDependencyError, OutputValidationError
from .types import ChatChunk, ChatRequest, ChatResponse, Choice, evolve

if TYPE_CHECKING:
    from .context import CallContext
    from .resilience import Target

__all__ = ["OutputSpec", "is_type", "output_spec", "strict_schema", "forced_tool", "can_force",
           "force", "unforce", "unforce_chunk", "finish", "is_forced", "retry_messages",
           "output_retries"]

FORCED_TOOL_DESCRIPTION = ("Give your final answer by calling this function: its arguments are "
                           "the answer, in exactly this schema.")
MAX_OUTPUT_RETRIES = 10


class OutputSpec:
    """A type asked for as structured output: its adapter and the JSON schema sent for it."""

    __slots__ = ("type", "adapter", "box", "name", "schema", "response_format")

    def __init__(self, tp: Any, adapter: Any, name: str, schema: dict[str, Any],
                 box: Any = None) -> None:
        self.type = tp
        self.adapter = adapter
        self.box = box
        """When the type is not a JSON object (``list[X]``, ``int``): the schema sent is
        ``{"value": ...}`` (APIs want an object at the top), validated by this adapter and
        unwrapped. A bare value is accepted too."""
        self.name = name
        self.schema = schema
        self.response_format: dict[str, Any] = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }

    def parse(self, text: str | None) -> Any:
        """The validated object of an answer's text, or :class:`OutputValidationError`."""
        from pydantic import ValidationError

        raw = text or ""
        body = _unfence(raw)
        try:
            if self.box is None:
                return self.adapter.validate_json(body)
            try:
                return getattr(self.box.validate_json(body), _WRAP)
            except ValidationError as boxed:
                try:
                    return self.adapter.validate_json(body)
                except ValidationError:
                    raise boxed from None
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            raise OutputValidationError(
                f"the answer does not validate as {self.name}: {_summary(errors)}",
                raw=raw, errors=[dict(e) for e in errors]) from None


_WRAP = "value"


def _summary(errors: list[Any]) -> str:
    parts = []
    for e in errors[:3]:
        loc = ".".join(str(p) for p in e.get("loc", ())) or "(answer)"
        parts.append(f"{loc}: {e.get('msg', '')}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def _unfence(text: str) -> str:
    """Some models wrap JSON in a Markdown code fence even in JSON mode: take what is inside."""
    if "```" not in text:
        return text
    m = _FENCE.match(text)
    return m.group(1) if m else text


# ---------------------------------------------------------------------------- type to schema


def is_type(value: Any) -> bool:
    """Whether a ``response_format`` value is a type to validate against (a class, ``list[X]``,
    ``X | None``, ``Annotated[...]``, a ``typing`` form) rather than a value (a dict is a
    format; anything else is refused by the format check)."""
    return isinstance(value, (type, UnionType)) or hasattr(value, "__origin__") \
        or type(value).__module__ in ("typing", "typing_extensions")


_SPECS: dict[Any, OutputSpec] = {}
_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def output_spec(tp: Any) -> OutputSpec:
    """The :class:`OutputSpec` of a type given as ``response_format`` (cached per type)."""
    try:
        cached = _SPECS.get(tp)
    except TypeError:  # an unhashable "type": refused below
        cached = None
    if cached is not None:
        return cached
    try:
        from pydantic import TypeAdapter
        from pydantic.errors import PydanticUserError
    except ImportError:  # pragma: no cover - every provider SDK installs pydantic
        raise MissingDependencyError("response_format=<a type> needs pydantic: pip install "
                                     "'cencori-core[structured]'") from None
    if isinstance(tp, (str, bytes, int, float, bool)) or tp is None:
        raise InvalidRequestError(_HOW, param="response_format")
    try:
        adapter = TypeAdapter(tp)
        schema = adapter.json_schema()
    except (PydanticUserError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidRequestError(f"response_format {_name(tp)!r} cannot be described as a JSON "
                                  f"schema ({type(exc).__name__}: {exc}). {_HOW}",
                                  param="response_format") from None
    name = (_NAME.sub("_", _name(tp)) or "output")[:64]
    box = None
    if schema.get("type") != "object":
        from pydantic import create_model

        # validated as {"value": <the type>}, so errors point into the answer as sent
        box = TypeAdapter(create_model(name, value=(tp, ...)))  # _WRAP
        schema = {"type": "object", "properties": {_WRAP: schema}, "required": [_WRAP]}
        defs = schema["properties"][_WRAP].pop("$defs", None)
        if defs:
            schema["$defs"] = defs
    spec = OutputSpec(tp, adapter, name, strict_schema(schema), box)
    try:
        _SPECS[tp] = spec
    except TypeError:
        pass
    return spec


_HOW = ("response_format takes a type (a pydantic model class, a dataclass, a TypedDict, "
        "list[X], ...) or {'type': 'text' | 'json_object' | 'json_schema', ...}")


def _name(tp: Any) -> str:
    """A readable schema name: ``City``, ``list_Point``, ``dict_str_int``."""
    args = getattr(tp, "__args__", None)
    if args:
        base = getattr(getattr(tp, "__origin__", None), "__name__", None) or "union"
        return "_".join([base, *(_name(a) for a in args)])
    name = getattr(tp, "__name__", None)
    if isinstance(name, str):
        return name
    return re.sub(r"[^a-zA-Z0-9]+", "_", type(tp).__name__) or "output"


def strict_schema(schema: Any, root: Any = None) -> Any:
    """The schema as OpenAI's strict mode wants it (and the other APIs accept): every object
    closed (``additionalProperties: false``) with every property required; ``default: null``
    dropped; a ``$ref`` with sibling keys (a described nested model) inlined, as strict mode
    takes a ``$ref`` only alone. A copy; the input is left alone."""
    if root is None:
        root = schema
    if isinstance(schema, list):
        return [strict_schema(s, root) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and len(schema) > 1 and ref.startswith("#/$defs/"):
        target = (root.get("$defs") or {}).get(ref[len("#/$defs/"):])
        if isinstance(target, Mapping):
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return strict_schema(merged, root)
    out = {k: strict_schema(v, root) for k, v in schema.items()}
    if "default" in out and out["default"] is None:
        del out["default"]
    if out.get("type") == "object" and isinstance(out.get("properties"), Mapping):
        out.setdefault("additionalProperties", False)
        out["required"] = list(out["properties"])
    return out


# ---------------------------------------------------------------------------- forced tool


def forced_tool(response_format: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tool, tool_choice) that carry a ``json_schema`` response format as a forced call."""
    js = response_format["json_schema"]
    name = _NAME.sub("_", str(js.get("name") or "answer"))[:64] or "answer"
    tool = {"type": "function", "function": {"name": name, "description": FORCED_TOOL_DESCRIPTION,
                                             "parameters": dict(js["schema"])}}
    return tool, {"type": "function", "function": {"name": name}}


def can_force(request: ChatRequest, has_tools: bool) -> str | None:
    """Why the request's structured output cannot travel as a forced tool call, or None."""
    rf = request.response_format
    if rf is None or rf["type"] != "json_schema":
        return "only a JSON schema (or a type) can be carried by a tool call, not json_object"
    if not has_tools:
        return "the model has no tools capability either"
    if request.tools:
        return "the request has its own tools, and a forced answer tool would keep them unused"
    return None


def force(request: ChatRequest) -> ChatRequest:
    """The request with its JSON schema carried by a forced tool call instead."""
    assert request.response_format is not None
    tool, choice = forced_tool(request.response_format)
    return evolve(request, response_format=None, tools=[tool], tool_choice=choice,
                  parallel_tool_calls=None)


def unforce(resp: ChatResponse) -> ChatResponse:
    """A forced tool call's answer as the text answer it stands for."""
    if resp.tool_calls:
        args = resp.tool_calls[0].arguments_raw
        finish = "stop" if resp.finish_reason == "tool_calls" else resp.finish_reason
        choices = tuple(evolve(c, content=c.tool_calls[0].arguments_raw if c.tool_calls
                               else c.content, tool_calls=[],
                               finish_reason="stop" if c.finish_reason == "tool_calls"
                               else c.finish_reason) for c in resp.choices)
        return evolve(resp, content=args, tool_calls=[], finish_reason=finish, choices=choices)
    return resp


def unforce_chunk(chunk: ChatChunk) -> ChatChunk:
    """A stream chunk of the forced tool call as a text chunk."""
    if chunk.tool_calls:
        text = "".join(d.arguments for d in chunk.tool_calls if d.index == 0)
        chunk = evolve(chunk, delta=chunk.delta + text, tool_calls=[])
    if chunk.finish_reason == "tool_calls":
        chunk = evolve(chunk, finish_reason="stop")
    return chunk


# ---------------------------------------------------------------------------- the answer


def finish(ctx: CallContext, resp: ChatResponse) -> ChatResponse:
    """``choices`` (always) and ``parsed`` (when a type was asked) on a final chat response.
    Raises :class:`OutputValidationError` (with the response on it) when the answer does not
    validate; the caller records the call as failed first."""
    if not resp.choices:
        object.__setattr__(resp, "choices", (Choice(
            index=0, content=resp.content, tool_calls=resp.tool_calls,
            finish_reason=resp.finish_reason, logprobs=resp.logprobs, refusal=resp.refusal),))
    spec: OutputSpec | None = ctx._call.output
    if spec is None or resp.refusal is not None:
        return resp
    try:
        parsed = spec.parse(resp.content)
    except OutputValidationError as exc:
        exc.response = resp
        raise
    object.__setattr__(resp, "parsed", parsed)
    return resp


def is_forced(ctx: CallContext, target: Target | None) -> bool:
    forced = ctx._call.forced
    if not forced:
        return False
    route = target.route if target is not None else ctx.route
    return route is not None and (route.provider, route.model, route.deployment) in forced


def output_retries(value: Any, spec: OutputSpec | None) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value <= MAX_OUTPUT_RETRIES:
        raise InvalidRequestError(f"output_retries must be an integer from 0 to "
                                  f"{MAX_OUTPUT_RETRIES}, got {value!r}", param="output_retries")
    if value and spec is None:
        raise InvalidRequestError("output_retries needs response_format to be a type (a "
                                  "pydantic model, a dataclass, ...) to validate the answer "
                                  "against", param="output_retries")
    return value


def retry_messages(messages: Any, exc: OutputValidationError) -> list[Any]:
    """The conversation asked again: the invalid answer, then what was wrong with it."""
    return [*messages, {"role": "assistant", "content": exc.raw or ""},
            {"role": "user", "content": (
                "Your answer did not match the required JSON schema. Errors:\n"
                + _summary(exc.errors) + "\nReply again with only the corrected JSON.")}]
