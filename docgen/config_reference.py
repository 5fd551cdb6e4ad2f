"""The configuration reference, generated from the pydantic settings models at build time.

A page holds ``<!-- plugyard:config SECTION -->`` where the tables of ``[SECTION]`` (and the
tables nested in it) belong; ``<!-- plugyard:config SECTION 3 -->`` puts its heading at level
3 (2 by default), nested tables one level deeper. Each key's meaning is the docstring
written under its field, so the reference cannot drift from the code.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import itertools
import json
import re
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import annotated_types
from pydantic import BaseModel, SecretStr

__all__ = [
    "SECTIONS",
    "Table",
    "field_docs",
    "on_page_markdown",
    "render_section",
    "settings_models",
    "tables",
]

SECTIONS: dict[str, str] = {
    "host": "plugyard.host._config:HostSettings",
    "asyncio": "plugyard.adapters.asyncio._settings:AsyncioSettings",
    "http": "plugyard.adapters.asyncio._settings:HttpSettings",
    "celery": "plugyard.adapters.celery._settings:CelerySettings",
    "lifecycle": "plugyard.adapters.lifecycle._settings:LifecycleSettings",
    "pod": "plugyard.adapters.pod._settings:PodSettings",
    "zmq": "plugyard.adapters.zmq._settings:ZmqSettings",
    "console": "plugyard.console._settings:ConsoleSettings",
    "events": "plugyard.adapters.bridge._settings:BridgeSettings",
}
"""Top-level tables and the model that validates each; nested tables follow the fields."""

HIDDEN: dict[str, set[str]] = {"CelerySettings": {"celery"}}
"""Fields that are not keys a user writes (``[celery]`` holds Celery's own settings)."""

SETTINGS_MODULES = (
    "plugyard.host._config",
    "plugyard.adapters.asyncio._settings",
    "plugyard.adapters.celery._settings",
    "plugyard.adapters.lifecycle._settings",
    "plugyard.adapters.pod._settings",
    "plugyard.adapters.zmq._settings",
    "plugyard.console._settings",
    "plugyard.adapters.bridge._settings",
)
"""Where settings models live; every model defined there must appear in the reference."""

NOT_SECTIONS = {"PluginConfig"}
"""Models documented by hand (``[plugins.NAME]`` is an open table of plugin options)."""

MARKER = re.compile(r"^<!-- plugyard:config (\S+)(?: ([1-5]))? -->$", re.MULTILINE)


@dataclass(frozen=True)
class Table:
    """One TOML table of the reference: its header, its model and the form of its keys'
    environment variables."""

    header: str
    model: type[BaseModel]
    env: str


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """The docstring written under each field of ``model`` (and of its bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _nested(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds: ``(Model, False)`` for a table, ``(Model, True)`` for a
    table of tables (``dict[str, Model]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is dict:
        value = typing.get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value, True
    return None


def tables(section: str) -> Iterator[Table]:
    """The table ``[section]`` and every table nested in it, depth first."""

    def walk(header: str, model: type[BaseModel], env: str) -> Iterator[Table]:
        yield Table(header, model, env)
        for name, info in model.model_fields.items():
            inner = _nested(info.annotation)
            if inner is None or name in HIDDEN.get(model.__name__, set()):
                continue
            child, keyed = inner
            key = name.upper()
            if keyed:
                placeholder = "PLUGIN" if name == "delivery" else "NAME"
                yield from walk(
                    f"{header}.{name}.{placeholder}", child, f"{env}__{key}__<{placeholder}>"
                )
            else:
                yield from walk(f"{header}.{name}", child, f"{env}__{key}")

    yield from walk(section, _load(SECTIONS[section]), f"PLUGYARD_{section.upper()}")


def settings_models() -> set[type[BaseModel]]:
    """Every settings model defined in the settings modules (the reference must cover
    them)."""
    found: set[type[BaseModel]] = set()
    for name in SETTINGS_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
                and value.__name__ not in NOT_SECTIONS
            ):
                found.add(value)
    return found


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [_type(arg) for arg in args if arg is not type(None)]
        suffix = " or none" if type(None) in args else ""
        return " or ".join(kinds) + suffix
    if origin is typing.Literal:
        return " or ".join(f'`"{arg}"`' for arg in args)
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        inner = _nested(annotation)
        return "table of tables" if inner is not None else "table"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return " or ".join(f'`"{member.value}"`' for member in annotation)
        if issubclass(annotation, BaseModel):
            return "table"
        if issubclass(annotation, PurePath):
            return "path"
        if issubclass(annotation, SecretStr):
            return "secret string"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _bounds(metadata: list[Any]) -> str:
    parts = []
    for item in metadata:
        for kind, attr, symbol in (
            (annotated_types.Gt, "gt", ">"),
            (annotated_types.Ge, "ge", "≥"),
            (annotated_types.Lt, "lt", "<"),
            (annotated_types.Le, "le", "≤"),
        ):
            if isinstance(item, kind):
                parts.append(f"{symbol} {getattr(item, attr)}")
    return ", ".join(parts)


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    return " ".join(text.split()).replace("|", "\\|")


def render_section(section: str, *, level: int = 2) -> str:
    """Markdown for ``[section]`` and its nested tables: one heading and one table each."""
    out: list[str] = []
    for table in tables(section):
        docs = field_docs(table.model)
        hidden = HIDDEN.get(table.model.__name__, set())
        hashes = "#" * (level if table.header == section else level + 1)
        out.append(f"{hashes} `[{table.header}]`\n")
        summary = inspect.getdoc(table.model) or ""
        if summary:
            out.append(_cell(summary.split("\n\n")[0]) + "\n")
        out.append("| key | type and default | meaning |")
        out.append("|---|---|---|")
        for name, info in table.model.model_fields.items():
            if name in hidden:
                continue
            kind = _type(info.annotation)
            bounds = _bounds(info.metadata)
            if bounds:
                kind += f", {bounds}"
            meaning = _cell(docs.get(name, ""))
            if _nested(info.annotation) is None:
                meaning += f"<br>environment: `{table.env}__{name.upper()}`"
            out.append(f"| `{name}` | {kind}<br>default: {_default(info)} | {meaning} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: replace each ``<!-- plugyard:config SECTION -->`` marker."""

    def replace(match: re.Match[str]) -> str:
        section = match.group(1)
        if section not in SECTIONS:
            raise ValueError(
                f"<!-- plugyard:config {section} -->: no such section "
                f"(known: {', '.join(SECTIONS)})"
            )
        return render_section(section, level=int(match.group(2) or 2))

    return MARKER.sub(replace, markdown)


if __name__ == "__main__":  # pragma: no cover - a quick look from the command line
    for name in SECTIONS:
        print(render_section(name))
    print(Path(__file__).name, "covers", len(settings_models()), "models")
