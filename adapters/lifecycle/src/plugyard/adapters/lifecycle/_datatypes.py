"""Typed values in blueprints: the built-in types, ``data_types`` (nested, with defaults and
required fields) and ``constraints``."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, NoReturn

from ._functions import function_of
from ._imports import did_you_mean

__all__ = ["CONSTRAINTS", "SCALAR_TYPES", "DataTypes", "check_constraints"]

SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "dict": (dict,),
    "regex": (str,),
    "textual": (str,),
}
# Cloudify 1_4/1_5 names whose values are identifiers (checked as strings).
_ID_TYPES = (
    "blueprint_id",
    "deployment_id",
    "capability_value",
    "scaling_group",
    "secret_key",
    "node_id",
    "node_type",
    "node_instance",
    "operation_name",
)
for _name in _ID_TYPES:
    SCALAR_TYPES[_name] = (str,)

PROPERTY_KEYS = ("type", "default", "required", "description", "constraints", "display_label")
CONSTRAINTS = (
    "equal",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "in_range",
    "valid_values",
    "length",
    "min_length",
    "max_length",
    "pattern",
)

Fail = Callable[[str, str], NoReturn]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind != "boolean" and isinstance(value, bool):
        return False
    return isinstance(value, SCALAR_TYPES[kind])


def _compare(op: str, arg: Any, value: Any) -> bool:
    tests: dict[str, Callable[[], bool]] = {
        "equal": lambda: bool(value == arg),
        "greater_than": lambda: bool(value > arg),
        "greater_or_equal": lambda: bool(value >= arg),
        "less_than": lambda: bool(value < arg),
        "less_or_equal": lambda: bool(value <= arg),
        "in_range": lambda: bool(arg[0] <= value <= arg[1]),
        "valid_values": lambda: value in arg,
        "length": lambda: len(value) == arg,
        "min_length": lambda: len(value) >= arg,
        "max_length": lambda: len(value) <= arg,
        "pattern": lambda: re.fullmatch(str(arg), str(value)) is not None,
    }
    try:
        return tests[op]()
    except TypeError:
        return False


def check_constraints(constraints: Any, value: Any, path: str, fail: Fail) -> None:
    """Fail unless ``value`` meets every constraint (a list of one-key mappings)."""
    if constraints is None or function_of(value) is not None:
        return
    if not isinstance(constraints, list):
        fail(f"{path}.constraints", "expected a list of constraints")
    for i, item in enumerate(constraints):
        cpath = f"{path}.constraints[{i}]"
        if not isinstance(item, dict) or len(item) != 1:
            fail(cpath, "expected one constraint, e.g. {valid_values: [a, b]}")
        op, arg = next(iter(item.items()))
        if op not in CONSTRAINTS:
            fail(
                cpath,
                f"unknown constraint {op!r} (expected one of: {', '.join(CONSTRAINTS)})"
                + did_you_mean(str(op), CONSTRAINTS),
            )
        if op == "in_range" and (not isinstance(arg, list) or len(arg) != 2):
            fail(cpath, "in_range expects [lower, upper]")
        if not _compare(op, arg, value):
            fail(path, f"value {value!r} does not meet constraint {op}: {arg!r}")


class DataTypes:
    """The blueprint's ``data_types``: checking values against them and filling defaults."""

    def __init__(self, decls: dict[str, Any], fail: Fail) -> None:
        self.decls = decls
        self.fail = fail
        for name in decls:
            self.schema(name, f"data_types.{name}")

    def known(self, kind: str) -> bool:
        """Whether ``kind`` names a built-in type or a data type."""
        return kind in SCALAR_TYPES or kind in self.decls

    def check_kind(self, kind: Any, path: str) -> None:
        """Fail unless ``kind`` names a known type."""
        if not isinstance(kind, str) or not self.known(kind):
            choices = [*SCALAR_TYPES, *self.decls]
            self.fail(path, f"unknown type {kind!r}" + did_you_mean(str(kind), choices))

    def schema(self, name: str, path: str, trail: tuple[str, ...] = ()) -> dict[str, Any]:
        """A data type's property declarations, its ancestors' included."""
        if name in trail:
            self.fail(path, f"derived_from forms a cycle: {' -> '.join([*trail, name])}")
        decl = self.decls.get(name)
        if not isinstance(decl, dict):
            self.fail(path, f"data type {name!r} must be a mapping")
        for key in decl:
            if key not in ("derived_from", "properties", "description", "version"):
                self.fail(
                    f"data_types.{name}.{key}",
                    "unknown key (expected one of: derived_from, properties, description)",
                )
        props: dict[str, Any] = {}
        parent = decl.get("derived_from")
        if parent is not None:
            if parent not in self.decls:
                self.fail(
                    f"data_types.{name}.derived_from",
                    f"unknown data type {parent!r}" + did_you_mean(str(parent), self.decls),
                )
            props.update(self.schema(str(parent), path, (*trail, name)))
        own = decl.get("properties") or {}
        if not isinstance(own, dict):
            self.fail(f"data_types.{name}.properties", "expected a mapping")
        for prop, pdecl in own.items():
            ppath = f"data_types.{name}.properties.{prop}"
            if not isinstance(pdecl, dict):
                self.fail(ppath, "expected a mapping with 'type', 'default', ...")
            for key in pdecl:
                if key not in PROPERTY_KEYS:
                    self.fail(
                        f"{ppath}.{key}",
                        f"unknown key (expected one of: {', '.join(PROPERTY_KEYS)})"
                        + did_you_mean(str(key), PROPERTY_KEYS),
                    )
            if "type" in pdecl:
                self.check_kind(pdecl["type"], f"{ppath}.type")
            props[prop] = {**props.get(prop, {}), **pdecl}
        return props

    def check(self, kind: str | None, value: Any, path: str, constraints: Any = None) -> Any:
        """``value`` checked against ``kind``, with a data type's defaults filled in."""
        if value is None or function_of(value) is not None:
            return value
        if kind is not None and kind in self.decls:
            value = self._check_data(kind, value, path)
        elif kind is not None and not _scalar_ok(kind, value):
            self.fail(path, f"expected {kind}, got {value!r}")
        check_constraints(constraints, value, path, self.fail)
        return value

    def _check_data(self, kind: str, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping of data type {kind!r}, got {value!r}")
        schema = self.schema(kind, path)
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key not in schema:
                self.fail(
                    f"{path}.{key}",
                    f"data type {kind!r} has no property {key!r} (declared: "
                    f"{', '.join(schema) or 'none'})" + did_you_mean(str(key), schema),
                )
            decl = schema[key]
            result[key] = self.check(
                decl.get("type"), item, f"{path}.{key}", decl.get("constraints")
            )
        for key, decl in schema.items():
            if key in result:
                continue
            if "default" in decl:
                result[key] = self.check(
                    decl.get("type"), copy.deepcopy(decl["default"]), f"{path}.{key}"
                )
            elif decl.get("required", True):
                self.fail(f"{path}.{key}", f"required property of data type {kind!r} is missing")
        return result
