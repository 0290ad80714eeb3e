"""Settings as frozen dataclasses whose fields carry their own help, default and constraints.

``opt`` puts a field's documentation and limits in ``field(metadata=...)``; the same metadata
drives validation (``parse``: a bad key, type or value raises ``ConfigError`` naming the key and
what is allowed), the JSON schema (``json_schema``) and the Markdown reference
(``markdown_reference``). Used by the configuration (``pipeline.config``) and the settings of
each package (``pipeline.prune.settings``); knows nothing of any of them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """An invalid configuration: the message names the key and the allowed values."""


def opt(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    pattern: str | None = None,
    choices: Callable[[], list[str]] | None = None,
    also: Callable[[], str] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with its documentation and constraints in one place (``factory``:
    a default computed when a config is built, e.g. from a registry)."""
    metadata = {
        "help": help,
        "minimum": minimum,
        "maximum": maximum,
        "exclusiveMinimum": exclusive_minimum,
        "exclusiveMaximum": exclusive_maximum,
        "pattern": pattern,
        "choices": choices,
        "also": also,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    if isinstance(default, list | dict | tuple) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


def doc(text: str) -> Any:
    """A required field of a record (stored data, not a setting) with its documentation."""
    return field(metadata={"doc": text})


def optional(text: str) -> Any:
    """A record's field that only some records have (None when absent)."""
    return field(default=None, metadata={"doc": text})


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _check_constraints(value: Any, meta: Mapping[str, Any], key: str) -> None:
    bounds = (
        ("minimum", lambda v, b: v >= b, ">="),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusiveMinimum", lambda v, b: v > b, ">"),
        ("exclusiveMaximum", lambda v, b: v < b, "<"),
    )
    for name, ok, sign in bounds:
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"config key '{key}' = {value!r}: must be {sign} {bound}")
    pattern = meta.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(f"config key '{key}' = {value!r}: must match {pattern}")


def _allowed(item: Any, meta: Mapping[str, Any]) -> bool:
    """An item is one of the field's choices, or matches its ``also`` pattern."""
    choices, also = meta.get("choices"), meta.get("also")
    if choices is None or item in choices():
        return True
    return also is not None and isinstance(item, str) and re.fullmatch(also(), item) is not None


def _allowed_text(meta: Mapping[str, Any]) -> str:
    also = meta.get("also")
    return f"{meta['choices']()}" + (f", or a match of {also()}" if also else "")


def _convert(tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' = {value!r}: allowed values are {list(args)}")
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key, meta)
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}' = {value!r}: expected a list")
        items = tuple(_convert(args[0], v, f"{key}[{i}]", {}) for i, v in enumerate(value))
        for i, item in enumerate(items):
            if not _allowed(item, meta):
                raise ConfigError(f"config key '{key}[{i}]' = {item!r}: allowed values are {_allowed_text(meta)}")
        return items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' = {value!r}: expected a mapping")
        for k in value:
            if not _allowed(k, meta):
                raise ConfigError(f"config key '{key}.{k}': unknown key; allowed keys are {_allowed_text(meta)}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(bool)}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(int)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(float)}")
        value = float(value)
    elif tp is str and not isinstance(value, str):
        raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(str)}")
    _check_constraints(value, meta, key)
    return value


def parse(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, validating every key on the way."""
    if not isinstance(data, Mapping):
        hint = " (leave the key out for the defaults)" if data is None else ""
        raise ConfigError(f"config key '{prefix or '<root>'}' = {data!r}: expected a mapping{hint}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            name = "null (YAML reads a bare null, ~ or empty key as no name)" if key is None else key
            where = f"{prefix}.{name}" if prefix else name
            raise ConfigError(f"config key '{where}': unknown key; allowed keys are {sorted(known)}")
    values = {}
    for name, f in known.items():
        if name in data:
            key = f"{prefix}.{name}" if prefix else name
            values[name] = _convert(hints[name], data[name], key, f.metadata)
    return cls(**values)


def read_yaml(path: Path) -> Any:
    """A YAML file's data; a missing file or a syntax error is one line naming file, line, column."""
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        context = err.context_mark
        opened = (
            f" ({err.context} at line {context.line + 1}, column {context.column + 1})"
            if err.context and context and context is not mark
            else ""
        )
        raise ConfigError(f"{path}{where}: invalid YAML: {err.problem}{opened}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(err).split())}") from None


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def to_dict(obj: Any) -> Any:
    """Plain JSON-ready data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def default_of(f: dataclasses.Field) -> Any:
    """A field's default (its factory's value), or ``dataclasses.MISSING``."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _schema_of(tp: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if dataclasses.is_dataclass(tp):
        return json_schema(tp)
    if origin is tuple:
        items = _schema_of(args[0], {})
        if meta.get("choices"):
            items = {"enum": meta["choices"]()}
        if meta.get("also"):
            items = {"anyOf": [items, {"type": "string", "pattern": f"^{meta['also']()}$"}]}
        return {"type": "array", "items": items}
    if origin is dict:
        schema: dict[str, Any] = {"type": "object"}
        if meta.get("choices"):
            schema["propertyNames"] = {"enum": meta["choices"]()}
        if meta.get("also"):
            schema["propertyNames"] = {"anyOf": [schema["propertyNames"], {"pattern": f"^{meta['also']()}$"}]}
        scalar = args[1] in (bool, int, float, str)
        schema["additionalProperties"] = _schema_of(args[1], {}) if scalar else {"type": "object"}
        return schema
    schema = {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
    }[tp]
    schema = dict(schema)
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern"):
        if meta.get(key) is not None:
            schema[key] = meta[key]
    return schema


def json_schema(cls: type, *, root: bool = False) -> dict[str, Any]:
    """JSON schema of a config dataclass, generated from its fields (help, defaults, limits)."""
    hints = typing.get_type_hints(cls)
    properties = {}
    for f in dataclasses.fields(cls):
        schema = _schema_of(hints[f.name], f.metadata)
        schema["description"] = f.metadata.get("help", "")
        default = default_of(f)
        if not dataclasses.is_dataclass(default):
            schema["default"] = to_dict(default)
        properties[f.name] = schema
    out: dict[str, Any] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "properties": properties,
        "additionalProperties": False,
    }
    if root:
        out = {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}
    return out


def markdown_cell(text: str) -> str:
    """A Markdown table cell: a literal ``|`` (as in ``|V|`` or a regex) must not split it."""
    return text.replace("|", "\\|")


def markdown_reference(cls: type, prefix: str = "") -> str:
    """A reference table of a settings dataclass (config/README.md), generated from its fields."""
    hints = typing.get_type_hints(cls)
    lines: list[str] = []
    rows: list[str] = []
    nested: list[tuple[str, type]] = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        schema = _schema_of(hints[f.name], f.metadata)
        if dataclasses.is_dataclass(hints[f.name]):
            nested.append((key, hints[f.name]))
            continue
        allowed = (
            schema.get("enum") or schema.get("items", {}).get("enum") or schema.get("propertyNames", {}).get("enum")
        )
        limits = [
            f"{sign} {schema[name]}"
            for name, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
            if name in schema
        ]
        if "pattern" in schema:
            limits.append(f"matches `{schema['pattern']}`")
        constraint = ", ".join(f"`{a}`" for a in allowed) if allowed else ", ".join(limits)
        default = json.dumps(to_dict(default_of(f)))
        cells = [f"`{key}`", schema.get("type", "enum"), f"`{default}`", constraint, f.metadata["help"]]
        rows.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    if rows:
        title = prefix.rstrip(".") or "top level"
        lines += [f"### `{title}`", "", (cls.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|", *rows, ""]
    for key, nested_cls in nested:
        lines.append(markdown_reference(nested_cls, f"{key}."))
    return "\n".join(lines)
