"""Does an object the Stripe sandbox returns conform to Stripe's published OpenAPI schema?

    from tests.sandbox.stripe.openapi import assert_conforms, violations

    assert_conforms(response.json())                # the schema named by obj["object"]
    assert violations(obj, "payment_intent") == []  # or a schema named explicitly

The schemas are stripe_openapi_schemas.json beside this module (the facts of Stripe's spec3 for API version
2023-08-16, written by regenerate_openapi_schemas.py). They are OpenAPI 3.0, which off-the-shelf OpenAPI
validators misread for Stripe (it marks nullability as `nullable: true` beside `anyOf`/`enum`), so they are
translated to JSON Schema 2020-12 and checked with jsonschema:

- `nullable: true` admits null: `type` gains "null", an `enum` gains None, an `anyOf`/`oneOf` gains a null branch
  (a `$ref`/`allOf` is wrapped in one);
- `$ref: #/components/schemas/X` points at `#/$defs/X`;
- an object schema that declares `properties` but no `additionalProperties` admits no other field: the sandbox
  pins 2023-08-16 shapes and must not invent fields (nor carry a newer API version's). Maps whose
  `additionalProperties` is given (metadata and the like) admit any key;
- expandable fields need nothing: the spec already writes them as `anyOf: [{type: string}, {$ref: X}, ...]`
  (an id, or the expanded object, which is then checked against X);
- formats: `unix-time` must be a non-negative integer, `decimal` a decimal string.

Which schema: `schema` if given; else `obj["object"]` (a `deleted: true` object uses `deleted_<object>`, an object
without `object` but with `error` is the error envelope). A `list`/`search_result` has each item of `data` checked
against the schema its own `object` names, and an `event` has `data.object` checked the same way.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

SCHEMAS_FILE = Path(__file__).with_name("stripe_openapi_schemas.json")
OPENAPI_REF = "#/components/schemas/"
WRAPPERS = frozenset({"list", "search_result"})
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")

_formats = FormatChecker(formats=())


@_formats.checks("unix-time")
def _is_unix_time(value: object) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or value >= 0


@_formats.checks("decimal")
def _is_decimal(value: object) -> bool:
    return not isinstance(value, str) or _DECIMAL.fullmatch(value) is not None


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMAS_FILE.read_text())
    return document


def api_version() -> str:
    """The Stripe API version the schemas describe."""
    version: str = _document()["metadata"]["source"]["api_version"]
    return version


def schema_names() -> frozenset[str]:
    return frozenset(_document()["schemas"])


def _pointer(name: str) -> str:
    return "#/$defs/" + name.replace("~", "~0").replace("/", "~1")


def to_json_schema(node: Any) -> Any:
    """One OpenAPI 3.0 schema (as Stripe writes them) translated to JSON Schema 2020-12."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            if not value.startswith(OPENAPI_REF):
                raise ValueError(f"unexpected $ref {value!r}")
            out[key] = _pointer(value.removeprefix(OPENAPI_REF))
        elif key == "properties":
            out[key] = {name: to_json_schema(prop) for name, prop in value.items()}
        elif key in {"items", "additionalProperties", "anyOf", "oneOf", "allOf"}:
            out[key] = to_json_schema(value)
        elif key in {"type", "format", "enum", "required"}:
            out[key] = value
        # nullable is handled below; x-expandableFields and anything else is not a constraint
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return _admitting_null(out) if node.get("nullable") is True else out


def _admitting_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`nullable: true`: Stripe puts it beside `type`, `enum` and `anyOf`, each of which must then admit null."""
    if "$ref" in schema or "allOf" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    if "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            schema[keyword] = [*schema[keyword], {"type": "null"}]
    return schema


@functools.cache
def _defs() -> dict[str, Any]:
    return {name: to_json_schema(schema) for name, schema in _document()["schemas"].items()}


@functools.cache
def _validator(name: str) -> Any:
    if name not in _defs():
        raise KeyError(f"no schema {name!r} in {SCHEMAS_FILE.name}")
    schema = {"$schema": Draft202012Validator.META_SCHEMA["$id"], "$defs": _defs(), "$ref": _pointer(name)}
    return Draft202012Validator(schema, format_checker=_formats)


def schema_for(obj: Any) -> str | None:
    """The schema an object names: its `object` (`deleted_<object>` when deleted), or `error` for the envelope."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("object")
    if isinstance(kind, str):
        if obj.get("deleted") is True and f"deleted_{kind}" in schema_names():
            return f"deleted_{kind}"
        return kind
    if "object" not in obj and "error" in obj:
        return "error"
    return None


def _json_path(base: str, parts: Any) -> str:
    path = base
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            path += f".{part}"
        else:
            path += f"[{part!r}]"
    return path


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pruned(errors: list[ValidationError]) -> list[ValidationError]:
    """Where a value has the wrong type, that is the news: its enum/format errors would only repeat it."""
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    return [e for e in errors if e.validator not in {"enum", "format"} or tuple(e.absolute_path) not in mistyped]


def _describe(error: ValidationError, base: str) -> list[str]:
    """Readable lines for one jsonschema error; an anyOf/oneOf is described by its closest branch."""
    where = _json_path(base, error.absolute_path)
    keyword = error.validator
    if keyword in {"anyOf", "oneOf"} and error.context:
        branches: dict[Any, list[ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        depth = len(error.absolute_path)
        # A branch whose errors include a type error at this very place is not a shape this value could have.
        same_type = [
            errs
            for errs in branches.values()
            if not any(e.validator == "type" and len(e.absolute_path) == depth for e in errs)
        ]
        if same_type:
            # The branch the object names (an expanded customer is checked as a customer), else the nearest miss.
            named = schema_for(error.instance)
            by_name = [
                branches[i]
                for i, branch in enumerate(error.validator_value)
                if named and i in branches and isinstance(branch, dict) and branch.get("$ref") == _pointer(named)
            ]
            closest = by_name[0] if by_name else min(same_type, key=len)
            return [line for sub in _pruned(closest) for line in _describe(sub, base)]
        allowed: list[str] = []
        for errs in branches.values():
            for e in errs:
                if e.validator == "type" and len(e.absolute_path) == depth:
                    types = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
                    allowed += [t for t in types if t not in allowed]
        return [f"{where}: {_short(error.instance)} is not of type {' | '.join(allowed)}"]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - known)
        return [f"{where}: unknown field {_short(name)} (not in the {api_version()} schema)" for name in unknown]
    if keyword == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return [f"{where}: missing required field {_short(name)}" for name in missing]
    if keyword == "type":
        if error.instance is None:
            return [f"{where}: null, but the field is not nullable (type {_short(error.validator_value)})"]
        return [f"{where}: {_short(error.instance)} is not of type {_short(error.validator_value)}"]
    if keyword == "enum":
        return [f"{where}: {_short(error.instance)} is not one of {_short(error.validator_value, 400)}"]
    if keyword == "format":
        return [f"{where}: {_short(error.instance)} is not a {error.validator_value}"]
    return [f"{where}: {error.message[:200]}"]


def violations(obj: Any, schema: str | None = None, *, _path: str = "$") -> list[str]:
    """Every way `obj` departs from the schema (by default the one `obj["object"]` names); [] if it conforms."""
    name = schema or schema_for(obj)
    if name is None:
        return [f"{_path}: cannot tell which schema applies (no `object` field): {_short(obj)}"]
    if name not in schema_names():
        return [f"{_path}: no schema {name!r} (the object types we return are in {SCHEMAS_FILE.name})"]
    found: list[str] = []
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in _pruned(errors):
        found += _describe(error, _path)
    if isinstance(obj, dict):
        if name in WRAPPERS and isinstance(obj.get("data"), list):
            for i, item in enumerate(obj["data"]):
                found += violations(item, _path=f"{_path}.data[{i}]")
        if name == "event" and isinstance(obj.get("data"), dict) and isinstance(obj["data"].get("object"), dict):
            found += violations(obj["data"]["object"], _path=f"{_path}.data.object")
    return list(dict.fromkeys(found))


def assert_conforms(obj: Any, schema: str | None = None) -> None:
    """Fail, listing every violation, unless `obj` conforms to Stripe's schema (see `violations`)."""
    found = violations(obj, schema)
    if found:
        name = schema or schema_for(obj)
        ident = obj.get("id") if isinstance(obj, dict) else None
        raise AssertionError(
            f"{name} {ident or ''} does not conform to Stripe's {api_version()} OpenAPI schema:\n  "
            + "\n  ".join(found)
        )
