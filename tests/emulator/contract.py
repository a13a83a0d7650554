"""Discord's OpenAPI description as a contract: request bodies the bot sends and JSON the
emulator answers are validated against it, so neither side drifts from real Discord.

The spec (``spec/openapi.json``, MIT, vendored unchanged) is loaded and its validators
compiled once per process; a mismatch is recorded with the route and the JSON path of
the offending field, and the e2e harness fails the test on it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "spec" / "openapi.json"
_SPEC_URI = "urn:discord-openapi"


_PLAIN_TYPE = Draft202012Validator.VALIDATORS["type"]


def _snowflake_or_type(
    validator: Any, types: Any, instance: Any, schema: dict[str, Any]
) -> Any:
    """``type`` as in JSON Schema, except that an int is a valid snowflake: discord.py sends
    some ids as ints, which Discord accepts."""
    if (schema.get("format") == "snowflake" and isinstance(instance, int)
            and not isinstance(instance, bool) and instance >= 0):
        return
    yield from _PLAIN_TYPE(validator, types, instance, schema)


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"type": _snowflake_or_type}
)


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    pointer: str
    spec: dict[str, Any]


@dataclass
class Violation:
    """One field that does not match the spec."""

    method: str
    route: str
    direction: str  # "request" or "response <status>"
    json_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.direction} {self.json_path}: {self.message}"


@functools.cache
def _spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = json.load(handle)
    _amend_known_gaps(spec["components"]["schemas"])
    return spec


def _amend_known_gaps(schemas: dict[str, Any]) -> None:
    """Where the spec contradicts Discord's documented behaviour, follow the documentation.
    Each amendment is listed under "Known gaps of the spec" in README.md; nothing else is
    relaxed."""
    # 1. Channel type 16 (GUILD_MEDIA) is documented but missing from the enum.
    schemas["ChannelTypes"]["oneOf"].append({"title": "GUILD_MEDIA", "const": 16})
    # 2. Field errors under "_errors" carry string codes ("BASE_TYPE_REQUIRED"), not ints.
    schemas["InnerErrors"]["properties"]["_errors"]["items"] = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        "required": ["code", "message"],
    }
    # 3. A 429's "code" is optional ("code?" in the Rate Limits docs): per-route 429s lack it.
    schemas["RatelimitedResponse"]["allOf"][0] = {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["message"],
    }


# 4. Permission bitsets are documented as strings ("Permissions ... serialized as strings")
# and discord.py sends them so; the spec types these request fields as integers.
_PERMISSION_FIELDS = frozenset({"allow", "deny", "permissions"})


def _permissions_as_ints(body: Any) -> Any:
    """A copy of a request body with string permission bitsets read as the ints they are."""
    if isinstance(body, list):
        return [_permissions_as_ints(item) for item in body]
    if not isinstance(body, dict):
        return body
    return {
        key: int(value) if key in _PERMISSION_FIELDS and isinstance(value, str)
        and value.isdigit() else _permissions_as_ints(value)
        for key, value in body.items()
    }


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = DRAFT202012.create_resource(_spec())
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@functools.cache
def _operations() -> list[_Operation]:
    """Every operation, those with more literal path segments first (``@me`` before ids)."""
    found = []
    for template, item in _spec()["paths"].items():
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                pointer = f"#/paths/{_escape(template)}/{method}"
                found.append(
                    _Operation(method.upper(), template, re.compile(f"^{regex}$"), pointer,
                               operation)
                )
    found.sort(key=lambda op: op.template.count("{"))
    return found


@functools.cache
def _operation(method: str, path: str) -> _Operation | None:
    return next(
        (op for op in _operations() if op.method == method and op.pattern.match(path)), None
    )


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    """A compiled validator for the schema at ``pointer`` in the spec (cached per process)."""
    validator: Draft202012Validator = _Validator(
        {"$ref": f"{_SPEC_URI}{pointer}"}, registry=_registry()
    )
    return validator


def _response_pointer(op: _Operation, status: int) -> str | None:
    responses = op.spec.get("responses", {})
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in responses:
            response = responses[key]
            base = f"{op.pointer}/responses/{key}"
            if "$ref" in response:
                base = response["$ref"]
                response = _resolve(response["$ref"])
            if "application/json" in response.get("content", {}):
                return f"{base}/content/application~1json/schema"
            return None
    return None


def _resolve(pointer: str) -> dict[str, Any]:
    node: Any = _spec()
    for token in pointer.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _deepest(error: ValidationError) -> ValidationError:
    """For a oneOf/anyOf failure, the error inside the branch meant: the one whose ``type``
    discriminator matched, with the fewest errors."""
    if not error.context:
        return error
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def mismatched_kind(errors: list[ValidationError]) -> bool:
        return any(e.relative_path and e.relative_path[-1] == "type"
                   and e.validator in ("enum", "const") for e in errors)

    meant = min(branches.values(), key=lambda errs: (mismatched_kind(errs), len(errs)))
    return _deepest(meant[0])


@dataclass
class Contract:
    """Validates traffic against the spec; collects :class:`Violation` s."""

    violations: list[Violation] = field(default_factory=list)
    unknown_routes: set[str] = field(default_factory=set)

    def check_request(self, method: str, route: str, path: str, body: Any) -> None:
        """A request body the bot sent (JSON, or a multipart ``payload_json``)."""
        op = _operation(method, path)
        if op is None:
            self.unknown_routes.add(f"{method} {route}")
            return
        content = op.spec.get("requestBody", {}).get("content", {})
        if body is None or "application/json" not in content:
            return
        self._check(_validator(f"{op.pointer}/requestBody/content/application~1json/schema"),
                    _permissions_as_ints(body), method, route, "request")

    def check_response(self, method: str, route: str, path: str, status: int, body: Any) -> None:
        """A JSON response the emulator returned."""
        op = _operation(method, path)
        if op is None:
            self.unknown_routes.add(f"{method} {route}")
            return
        pointer = _response_pointer(op, status)
        if pointer is not None:
            self._check(_validator(pointer), body, method, route, f"response {status}")

    def _check(
        self, validator: Draft202012Validator, body: Any, method: str, route: str, direction: str
    ) -> None:
        for error in validator.iter_errors(body):
            deepest = _deepest(error)
            self.violations.append(
                Violation(method, route, direction, _json_path(deepest), deepest.message[:300])
            )
