"""Regenerate the Stripe OpenAPI facts the sandbox's objects are validated against.

    .venv/bin/python tests/sandbox/stripe/regenerate_openapi_schemas.py [--spec PATH] [--fixtures PATH] [--check]

Reads Stripe's published spec3 (by default from our snapshot of github.com/stripe/openapi, at the newest commit
whose complete spec the snapshot holds; `--spec` takes a local spec3.json or spec3.yaml instead) and writes, next
to this script:

- stripe_openapi_schemas.json: the component schemas of the objects the sandbox returns, plus every component
  schema they reference (recursively), plus the `list` and `search_result` wrappers, reduced to facts (property
  names, types, formats, nullable, enum, required, anyOf/oneOf/allOf, items, additionalProperties, $ref,
  x-expandableFields): descriptions, titles, maxLength and the like are dropped.
- stripe_openapi_fixtures.json: Stripe's own example objects (openapi/fixtures3.json of the same commit) for the
  object types the sandbox returns, so the validator's tests run without the snapshot.

Only this script reads the snapshot; the tests read the two committed files. Output is deterministic (sorted
keys, no timestamps): a regeneration from the same source produces no diff. `--check` writes nothing and exits 1
if the committed files differ from what would be written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SCHEMAS_OUT = HERE / "stripe_openapi_schemas.json"
FIXTURES_OUT = HERE / "stripe_openapi_fixtures.json"

REPOSITORY = "stripe/openapi"
SNAPSHOT_GIT_DIR = "/work/.mirror/stripe+openapi/repo"
# The newest commit whose spec3 is complete in our snapshot (the head's spec3.json is too large for it).
COMMIT = "63a674638635c68de26b9f3add13e58198f4df44"
SPEC_PATH = "openapi/spec3.yaml"
FIXTURES_PATH = "openapi/fixtures3.json"

# The objects the sandbox returns (the `object` field's value = the component schema's name).
ROOTS = (
    "payment_intent",
    "payment_method",
    "customer",
    "deleted_customer",
    "setup_intent",
    "charge",
    "refund",
    "event",
    "webhook_endpoint",
    "balance_transaction",
    "balance",
    "payout",
    "dispute",
    "error",
)
# Not components in the spec: every list/search endpoint inlines its own copy, identical but for `data.items`
# (and a `pattern` on `url`). We keep one copy whose items are any object; the validator checks each item against
# the schema its own `object` names.
WRAPPERS = ("list", "search_result")

# The schema keywords kept. `properties` is a map of names, walked into; everything else (description, title,
# maxLength, pattern, x-expansionResources, x-resourceId, x-stripeBypassValidation, ...) is dropped.
KEPT_KEYWORDS = (
    "$ref",
    "additionalProperties",
    "allOf",
    "anyOf",
    "enum",
    "format",
    "items",
    "nullable",
    "oneOf",
    "properties",
    "required",
    "type",
    "x-expandableFields",
)
REF_PREFIX = "#/components/schemas/"

# If the closure grows past this, cut at schemas the sandbox never populates (CUT_AT) and list them in metadata.
MAX_BYTES = 2_000_000
CUT_AT: tuple[str, ...] = ()


def _git_show(path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={SNAPSHOT_GIT_DIR}", "show", f"{COMMIT}:{path}"], check=True, capture_output=True
    ).stdout


def _parse(raw: bytes, name: str) -> Any:
    if name.endswith(".json"):
        return json.loads(raw)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the 4 MB spec in seconds
    return yaml.load(raw, Loader=loader)  # noqa: S506 - a safe loader


def _strip(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _strip(prop) for name, prop in value.items()}
        elif key in KEPT_KEYWORDS:
            out[key] = _strip(value)
    return out


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith(REF_PREFIX):
                raise SystemExit(f"unexpected $ref {ref!r}")
            found.add(ref.removeprefix(REF_PREFIX))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def _check_plain(node: Any, where: str) -> None:
    """YAML 1.1 would turn an unquoted `on`/`no` into a boolean and a date into a datetime: refuse such a spec."""
    if isinstance(node, dict):
        declared = node.get("type")
        for value in node.get("enum", ()):
            ok = value is None or (
                isinstance(value, str) if declared in (None, "string") else not isinstance(value, str)
            )
            if not ok or not isinstance(value, str | int | float | bool | type(None)):
                raise SystemExit(f"{where}: enum value {value!r} does not match type {declared!r}")
        for key, value in node.items():
            if not isinstance(key, str):
                raise SystemExit(f"{where}: non-string key {key!r}")
            _check_plain(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _check_plain(item, f"{where}/{i}")
    elif not isinstance(node, str | int | float | bool | type(None)):
        raise SystemExit(f"{where}: {type(node).__name__} value {node!r} is not JSON")


def _wrappers(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The `list`/`search_result` wrapper schemas (checked identical across endpoints) and, for our roots, which
    GET endpoint returns a list of what."""
    found: dict[str, dict[str, Any]] = {}
    endpoints: dict[str, dict[str, str]] = {name: {} for name in WRAPPERS}
    for path in sorted(spec["paths"]):
        get = spec["paths"][path].get("get") or {}
        schema = get.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        kind = ((schema or {}).get("properties", {}).get("object", {}).get("enum") or [None])[0]
        if kind not in WRAPPERS:
            continue
        assert schema is not None
        wrapper = _strip(schema)
        items = wrapper["properties"]["data"].pop("items")
        wrapper["properties"]["data"]["items"] = {"type": "object"}
        if kind in found and found[kind] != wrapper:
            raise SystemExit(f"{path}: its {kind} wrapper differs from the others; revisit WRAPPERS")
        found[kind] = wrapper
        item_refs = _refs(items)
        if item_refs & set(ROOTS):
            endpoints[kind][path] = " | ".join(sorted(item_refs))
    missing = set(WRAPPERS) - set(found)
    if missing:
        raise SystemExit(f"no endpoint returns {sorted(missing)}")
    return found, endpoints


def build(spec: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    components = spec["components"]["schemas"]
    _check_plain(components, "components/schemas")
    closure: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        if name not in components:
            raise SystemExit(f"component schema {name!r} is not in the spec")
        closure.add(name)
        if name not in CUT_AT:
            todo.extend(_refs(components[name]) - closure)
    schemas = {name: ({} if name in CUT_AT else _strip(components[name])) for name in closure}
    wrappers, endpoints = _wrappers(spec)
    clash = set(wrappers) & set(schemas)
    if clash:
        raise SystemExit(f"the spec now has component schemas named {sorted(clash)}; revisit WRAPPERS")
    schemas.update(wrappers)
    return {
        "metadata": {
            "source": source | {"api_version": spec["info"]["version"], "openapi": spec["openapi"]},
            "generated_by": "tests/sandbox/stripe/regenerate_openapi_schemas.py",
            "roots": list(ROOTS),
            "synthesized": {
                name: f"not a component in the spec: the {name} wrapper every such endpoint inlines (all identical "
                "but for data.items); data.items is any object here, each item is checked against the schema its "
                "own `object` names"
                for name in WRAPPERS
            },
            "wrapper_endpoints": endpoints,
            "kept_keywords": list(KEPT_KEYWORDS),
            "cut_points": sorted(CUT_AT),
            "schema_count": len(schemas),
        },
        "schemas": schemas,
    }


def _fixtures(fixtures: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    resources = fixtures["resources"]
    return {
        "metadata": {"source": source, "generated_by": "tests/sandbox/stripe/regenerate_openapi_schemas.py"},
        "resources": {name: resources[name] for name in ROOTS if name in resources},
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, help="a local spec3.json/spec3.yaml instead of the snapshot's")
    parser.add_argument(
        "--fixtures", type=Path, help="a local fixtures3.json (default: the snapshot's, or the one beside --spec)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files are out of date")
    args = parser.parse_args(argv)

    if args.spec:
        spec = _parse(args.spec.read_bytes(), args.spec.name)
        spec_source: dict[str, Any] = {"repository": None, "commit": None, "path": str(args.spec)}
        fixtures_path = args.fixtures or args.spec.with_name("fixtures3.json")
        if fixtures_path.exists():
            fixtures = _parse(fixtures_path.read_bytes(), fixtures_path.name)
            fixtures_source: dict[str, Any] | None = {"repository": None, "commit": None, "path": str(fixtures_path)}
        else:
            fixtures, fixtures_source = None, None
            print(f"no {fixtures_path}: {FIXTURES_OUT.name} left as it is", file=sys.stderr)
    else:
        spec = _parse(_git_show(SPEC_PATH), SPEC_PATH)
        spec_source = {"repository": REPOSITORY, "commit": COMMIT, "path": SPEC_PATH}
        if args.fixtures:
            fixtures = _parse(args.fixtures.read_bytes(), args.fixtures.name)
            fixtures_source = {"repository": None, "commit": None, "path": str(args.fixtures)}
        else:
            fixtures = _parse(_git_show(FIXTURES_PATH), FIXTURES_PATH)
            fixtures_source = {"repository": REPOSITORY, "commit": COMMIT, "path": FIXTURES_PATH}

    outputs = {SCHEMAS_OUT: _dump(build(spec, spec_source))}
    if fixtures is not None and fixtures_source is not None:
        outputs[FIXTURES_OUT] = _dump(_fixtures(fixtures, fixtures_source))
    size = len(outputs[SCHEMAS_OUT].encode())
    if size > MAX_BYTES:
        raise SystemExit(f"{SCHEMAS_OUT.name} would be {size} bytes (> {MAX_BYTES}): add cut points to CUT_AT")

    stale = [path for path, text in outputs.items() if not path.exists() or path.read_text() != text]
    for path, text in outputs.items():
        state = "out of date" if path in stale else "up to date"
        print(f"{path.relative_to(HERE.parents[2])}: {len(text.encode())} bytes, {state}")
        if path in stale and not args.check:
            path.write_text(text)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
