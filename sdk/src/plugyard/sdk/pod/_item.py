"""Typed pod items: classes whose annotated attributes are the properties and edges.

Example::

    class Person(Item):
        name: str | None

    class Dog(Item):
        name: str | None
        age: int | None
        owner: list[Person]          # an edge (a list of, or one, Item)

    Dog("Alice", 3)                  # positional in declaration order, or by name
    Dog(name="Alice", colour="red")  # TypeError: unknown property 'colour' (...)
"""

from __future__ import annotations

import builtins
import types
import typing
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

__all__ = [
    "RESERVED",
    "VALUE_TYPES",
    "Account",
    "Field",
    "Item",
    "PluginRun",
    "new_id",
    "schema_of",
]

VALUE_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "datetime": datetime,
}
"""The property types a pod stores, by the name the schema uses for them."""

RESERVED = frozenset({"id", "type", "created_at", "updated_at", "run_id"})
"""Names every item has, kept by the pod; no class may declare them as properties."""

_TYPE_NAMES = {python: name for name, python in VALUE_TYPES.items()}
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Value types ``to_dict`` passes through as they are (anything else is checked for dates)."""


def new_id() -> str:
    """A new item id: 32 hex digits, made by the client as Pymemri does."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Field:
    """One declared attribute of an item class: a property (``value_type``) or an edge."""

    name: str
    value_type: str | None = None
    target: str | None = None
    many: bool = False

    @property
    def is_edge(self) -> bool:
        """Whether this attribute links to other items instead of holding a value."""
        return self.target is not None


class _Shape(NamedTuple):
    """What ``to_dict`` and the client's write planning need of an item class, computed once.

    ``owner`` is the class it was computed for: a subclass finds its parent's shape by
    inheritance and must compute its own.
    """

    owner: type
    plain: tuple[str, ...]
    dated: tuple[str, ...]
    has_edges: bool


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _field(owner: type, name: str, hint: Any) -> Field:
    inner = _strip_optional(hint)
    if typing.get_origin(inner) is list:
        (arg,) = typing.get_args(inner) or (None,)
        if isinstance(arg, type) and issubclass(arg, Item):
            return Field(name, target=arg.__name__, many=True)
    elif isinstance(inner, type) and issubclass(inner, Item):
        return Field(name, target=inner.__name__)
    elif inner in _TYPE_NAMES:
        return Field(name, value_type=_TYPE_NAMES[inner])
    raise TypeError(
        f"{owner.__name__}.{name}: unsupported annotation {hint!r}; properties are "
        "str, int, float, bool or datetime (optionally | None), edges are an Item class "
        "or a list of one"
    )


def _resolve(cls: type[Item]) -> dict[str, Field]:
    try:
        hints = typing.get_type_hints(cls, localns={})  # Item.type must not shadow type
    except NameError as exc:
        raise TypeError(f"{cls.__name__}: cannot resolve an annotation: {exc}") from None
    fields: dict[str, Field] = {}
    for name, hint in hints.items():
        if name.startswith("_") or typing.get_origin(hint) is ClassVar or name in RESERVED:
            continue
        fields[name] = _field(cls, name, hint)
    return fields


def _type_error(cls_name: str, field: Field, value: Any) -> TypeError:
    expected = (
        (f"a list of {field.target}" if field.many else f"a {field.target} or None")
        if field.is_edge
        else f"{field.value_type} or None"
    )
    return TypeError(
        f"{cls_name}.{field.name}: expected {expected}, got {type(value).__name__} {value!r}"
    )


def _check(cls_name: str, field: Field, value: Any) -> Any:
    """Return ``value`` if it fits ``field`` (lists of edges are copied), else raise."""
    if field.is_edge:
        targets = value if field.many else ([] if value is None else [value])
        if field.many and not isinstance(value, list | tuple):
            raise _type_error(cls_name, field, value)
        for target in targets:
            if not isinstance(target, Item) or target.type != field.target:
                raise _type_error(cls_name, field, value)
        return list(value) if field.many else value
    if value is None:
        return None
    expected = VALUE_TYPES[field.value_type or "str"]
    if isinstance(value, bool) and expected is not bool:
        raise _type_error(cls_name, field, value)
    if expected is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, expected):
        raise _type_error(cls_name, field, value)
    return value


class Item:
    """Base of every pod item class; subclasses declare properties and edges as annotations.

    Every item has an ``id`` (made when it is first stored unless given), a ``type`` (its class
    name) and ``created_at``/``updated_at`` (epoch seconds, kept by the pod). Names and types
    are checked when an item is created and when a declared attribute is assigned.
    """

    id: str | None
    created_at: float | None
    updated_at: float | None
    _registry: ClassVar[dict[str, type[Item]]] = {}
    _item_shape: ClassVar[_Shape | None] = None
    _secret: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Item._registry[cls.__name__] = cls

    def __init__(self, *args: Any, id: str | None = None, **values: Any) -> None:
        cls = type(self)
        fields = cls.fields()
        props = [f.name for f in fields.values() if not f.is_edge]
        if len(args) > len(props):
            raise TypeError(
                f"{cls.__name__}() takes at most {len(props)} positional properties "
                f"({', '.join(props) or 'none'}), got {len(args)}"
            )
        for name, value in zip(props, args, strict=False):
            if name in values:
                raise TypeError(f"{cls.__name__}() got two values for property {name!r}")
            values[name] = value
        unknown = [name for name in values if name not in fields]
        if unknown:
            raise TypeError(
                f"{cls.__name__}: unknown property {unknown[0]!r} "
                f"(declared: {', '.join(fields) or 'none'})"
            )
        state = self.__dict__
        state.update(id=id, created_at=None, updated_at=None, _extra={}, _type=cls.__name__)
        for name, field in fields.items():
            default: Any = [] if field.many else None
            state[name] = _check(cls.__name__, field, values.get(name, default))

    @classmethod
    def fields(cls) -> dict[str, Field]:
        """The declared properties and edges, by name (resolved once per class)."""
        found: dict[str, Field] | None = cls.__dict__.get("_item_fields")
        if found is None:
            found = {} if cls is Item else _resolve(cls)
            cls._item_fields = found  # type: ignore[attr-defined]
        return found

    @classmethod
    def _shape(cls) -> _Shape:
        """Plain property names, datetime property names, whether the class has edges."""
        shape = cls._item_shape
        if shape is None or shape.owner is not cls:
            fields = cls.fields().values()
            shape = _Shape(
                cls,
                tuple(f.name for f in fields if f.value_type not in (None, "datetime")),
                tuple(f.name for f in fields if f.value_type == "datetime"),
                any(f.is_edge for f in fields),
            )
            cls._item_shape = shape
        return shape

    @classmethod
    def class_for(cls, type_name: str) -> type[Item] | None:
        """The item class last defined with that name, if any."""
        return cls._registry.get(type_name)

    @property
    def type(self) -> str:
        """The item's type: its class name, or the stored type of an item read generically."""
        return str(self.__dict__.get("_type") or type(self).__name__)

    def __setattr__(self, name: str, value: Any) -> None:
        field = type(self).fields().get(name)
        if field is not None:
            value = _check(type(self).__name__, field, value)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("_extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{self.type} item has no property {name!r}")

    def properties(self) -> dict[str, Any]:
        """Property values by name (declared ones, then any the class does not declare)."""
        state = self.__dict__
        values = {n: state[n] for n, f in type(self).fields().items() if not f.is_edge}
        values.update(state.get("_extra", {}))
        return values

    def edges(self) -> Iterator[tuple[str, Item]]:
        """``(edge name, target)`` for every item this one links to."""
        for name, field in type(self).fields().items():
            if field.is_edge:
                value = self.__dict__[name]
                for target in value if field.many else [value]:
                    if target is not None:
                        yield name, target

    def to_dict(self) -> dict[str, Any]:
        """The item as the pod stores it: ``id``, ``type`` and JSON-ready properties."""
        state = self.__dict__
        shape = type(self)._item_shape
        if shape is None or shape.owner is not type(self):
            shape = type(self)._shape()
        data: dict[str, Any] = {"id": state["id"], "type": state["_type"]}
        for name in shape.plain:
            data[name] = state[name]
        for name in shape.dated:
            value = state[name]
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        extra = state["_extra"]
        if extra:
            data.update(extra)
            if not _JSON_SCALARS.issuperset(map(type, extra.values())):
                for name, value in extra.items():
                    if isinstance(value, datetime):
                        data[name] = value.isoformat()
        return data

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], classes: Mapping[str, builtins.type[Item]] | None = None
    ) -> Item:
        """Build an item from stored data; an unknown type gives a generic :class:`Item`."""
        type_name = str(data.get("type", ""))
        target = (classes or {}).get(type_name) or cls._registry.get(type_name) or Item
        item = target.__new__(target)
        fields = target.fields()
        state = item.__dict__
        state.update(
            id=data.get("id"),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
            _extra={},
            _type=type_name,
            _stored=True,
        )
        for name, field in fields.items():
            state[name] = [] if field.many else None
        for key, value in data.items():
            if key in RESERVED or key.startswith("_"):
                continue
            declared = fields.get(key)
            if declared is None:
                state["_extra"][key] = value
            elif declared.value_type == "datetime" and isinstance(value, str):
                state[key] = datetime.fromisoformat(value)
            elif not declared.is_edge:
                state[key] = value
        return item

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in self._secret and value else repr(value)}"
            for name, value in self.properties().items()
            if value is not None
        )
        return f"{self.type}(id={self.id!r}{', ' if shown else ''}{shown})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Item):
            return NotImplemented
        return (self.type, self.id, self.properties()) == (other.type, other.id, other.properties())

    __hash__ = None  # type: ignore[assignment]


def schema_of(*classes: type[Item]) -> dict[str, dict[str, dict[str, str]]]:
    """The schema the pod stores for ``classes`` and every class their edges point to."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    pending = list(classes)
    while pending:
        cls = pending.pop()
        if not (isinstance(cls, type) and issubclass(cls, Item)) or cls is Item:
            raise TypeError(f"add_to_schema takes Item subclasses, got {cls!r}")
        if cls.__name__ in schema:
            continue
        entry: dict[str, dict[str, str]] = {"properties": {}, "edges": {}}
        for name, field in cls.fields().items():
            if field.is_edge:
                entry["edges"][name] = str(field.target)
                target = Item.class_for(str(field.target))
                if target is not None:
                    pending.append(target)
            else:
                entry["properties"][name] = str(field.value_type)
        schema[cls.__name__] = entry
    return schema


class PluginRun(Item):
    """One run of a plugin: what to run, its configuration, and how it went.

    ``config`` is a JSON object in a string; ``progress`` a fraction from 0 to 1; ``error`` and
    ``traceback`` say why a run ended in ``error``; ``exit_code`` is the plugin process's.
    """

    plugin_module: str | None
    plugin_name: str | None
    config: str | None
    status: str | None
    progress: float | None
    message: str | None
    error: str | None
    traceback: str | None
    launcher: str | None
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    timeout: float | None
    auth_url: str | None


class Account(Item):
    """Credentials for an outside service, supplied by an operator for one run.

    ``secret``, ``code`` and the tokens never appear in ``repr`` (so not in logs either).
    """

    _secret = frozenset({"secret", "code", "access_token", "refresh_token"})

    service: str | None
    identifier: str | None
    secret: str | None
    code: str | None
    access_token: str | None
    refresh_token: str | None
    error_message: str | None
