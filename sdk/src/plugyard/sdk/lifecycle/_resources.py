"""Resources: files in the blueprint's folder, read or rendered in a Jinja2 sandbox.

A template sees data, not actions: ``ctx`` in a template is a copy of what the operation's
context knows (ids, node properties, runtime properties, the operation's name) with no
method that writes a file, saves state or reveals the host's paths; the sandbox refuses
changes to any list or dict. Output is bounded: an operator that would build a value
bigger than the limit (``'A' * 4000000000``, ``10 ** 10 ** 10``, a padded ``%`` format)
is refused before it allocates, and rendering stops once the output passes the limit.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import NonRecoverableError

__all__ = ["DEFAULT_MAX_TEMPLATE_SIZE", "render_template", "resolve_resource"]

DEFAULT_MAX_TEMPLATE_SIZE = 16 * 1024 * 1024
"""Characters a rendered template (and any value built while rendering) may hold."""


def resolve_resource(root: Path, path: str) -> Path:
    """``path`` inside ``root``; a path that leaves the folder is a NonRecoverableError."""
    if not path or "\x00" in path:
        raise NonRecoverableError(f"resource path {path!r} is empty or invalid")
    base = root.resolve()
    candidate = Path(path)
    if candidate.is_absolute():
        raise NonRecoverableError(
            f"resource path {path!r} is absolute; resources are relative to the blueprint "
            f"folder {base}"
        )
    full = (base / candidate).resolve()
    if full != base and base not in full.parents:
        raise NonRecoverableError(
            f"resource path {path!r} leaves the blueprint folder {base}; resources must stay "
            "inside it"
        )
    if not full.is_file():
        raise NonRecoverableError(f"resource {path!r} not found in {base}")
    return full


def render_template(
    text: str,
    ctx: Any,
    variables: Mapping[str, Any] | None,
    name: str,
    *,
    max_size: int | None = None,
) -> str:
    """Render ``text`` in a bounded, immutable Jinja2 sandbox with ``variables`` and a
    read-only view of ``ctx`` (an operation context, or a mapping given as it is).

    ``max_size`` (default 16 MiB of characters) bounds the output and every
    value built on the way; past it, or on any template error, a NonRecoverableError names
    the resource.
    """
    variables = dict(variables or {})
    if "ctx" in variables:
        raise NonRecoverableError(
            f"rendering {name!r}: 'ctx' is reserved in template_variables; it is injected "
            "automatically"
        )
    try:
        from jinja2 import TemplateError
    except ImportError as exc:  # pragma: no cover - the lifecycle extra is missing
        raise NonRecoverableError(
            "rendering resources needs Jinja2: pip install 'plugyard-sdk[lifecycle]'"
        ) from exc
    limit = max_size or DEFAULT_MAX_TEMPLATE_SIZE
    view = ctx if ctx is None or isinstance(ctx, Mapping) else template_view(ctx)
    env = _bounded_environment(limit)
    try:
        template = env.from_string(text)
        parts: list[str] = []
        size = 0
        for chunk in template.generate(ctx=view, **variables):
            size += len(chunk)
            if size > limit:
                raise NonRecoverableError(
                    f"rendering {name!r}: the output passes {limit} characters "
                    "([lifecycle] max_template_size)"
                )
            parts.append(chunk)
        return "".join(parts)
    except TemplateError as exc:
        raise NonRecoverableError(f"rendering {name!r} failed: {exc}") from exc
    except (MemoryError, OverflowError, RecursionError, ValueError) as exc:
        raise NonRecoverableError(
            f"rendering {name!r} failed: {type(exc).__name__}: {exc}"
        ) from None


# -- the read-only view of ctx --------------------------------------------------------------


def template_view(ctx: Any) -> dict[str, Any]:
    """What a template sees as ``ctx``: plain copies of the context's data, nothing that acts.

    Works for the SDK's operation context and for anything that wraps one as ``.plugyard``.
    """
    inner = getattr(ctx, "plugyard", ctx)
    kind = getattr(inner, "type", None)
    view: dict[str, Any] = {
        "type": kind,
        "deployment": {"id": _attr(inner, "deployment", "id")},
        "blueprint": {"id": _attr(inner, "blueprint", "id")},
        "execution_id": getattr(inner, "execution_id", None),
        "workflow_id": getattr(inner, "workflow_id", None),
        "task_name": getattr(inner, "task_name", None),
    }
    operation = getattr(inner, "operation", None)
    if operation is not None:
        view["operation"] = {
            "name": getattr(operation, "name", None),
            "retry_number": getattr(operation, "retry_number", 0),
            "max_retries": getattr(operation, "max_retries", 0),
            "relationship": getattr(operation, "relationship", None),
        }
    plugin = getattr(inner, "plugin", None)
    if plugin is not None:
        view["plugin"] = {
            "name": str(plugin),
            "package_name": getattr(plugin, "package_name", None),
            "package_version": getattr(plugin, "package_version", None),
        }
    if kind == "node-instance":
        view["node"] = _node(inner.node)
        view["instance"] = _instance(inner.instance)
    elif kind == "relationship-instance":
        for end in ("source", "target"):
            subject = getattr(inner, end)
            view[end] = {"node": _node(subject.node), "instance": _instance(subject.instance)}
    return view


def _attr(obj: Any, *names: str) -> Any:
    for name in names:
        obj = getattr(obj, name, None)
    return obj


def _node(node: Any) -> dict[str, Any]:
    return {
        "id": node.id,
        "name": node.id,
        "type": node.type,
        "type_hierarchy": list(node.type_hierarchy),
        "number_of_instances": node.number_of_instances,
        "properties": copy.deepcopy(dict(node.properties)),
    }


def _instance(instance: Any) -> dict[str, Any]:
    return {
        "id": instance.id,
        "index": instance.index,
        "runtime_properties": copy.deepcopy(dict(instance.runtime_properties)),
        "relationships": copy.deepcopy(list(instance.relationships)),
    }


# -- the bounded sandbox --------------------------------------------------------------------

_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _bounded_environment(limit: int) -> Any:
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def too_big(what: str, size: float) -> SecurityError:
        return SecurityError(
            f"{what} would build a value of about {size:.0f} characters, over the "
            f"{limit} allowed ([lifecycle] max_template_size)"
        )

    def check_width(fmt: Any, what: str) -> None:
        if not isinstance(fmt, str):
            return
        for match in _PERCENT_WIDTH.finditer(fmt):
            for group in match.groups():
                if group == "*":
                    raise SecurityError(f"{what}: a '*' width is not allowed in templates")
                if group and int(group) > limit:
                    raise too_big(what, int(group))

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%"})

        def wrap_str_format(self, value: Any) -> Any:
            if super().wrap_str_format(value) is None:
                return None

            def refused(*args: Any, **kwargs: Any) -> str:
                raise SecurityError(
                    "str.format is not allowed in templates (its widths are unbounded); "
                    "use the format filter"
                )

            return refused

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                _check_repeat(left, right, limit, too_big)
                _check_repeat(right, left, limit, too_big)
            elif operator == "**":
                _check_power(left, right, limit, too_big)
            elif operator == "%":
                check_width(left, "'%' formatting")
            return super().call_binop(context, operator, left, right)

    env = Bounded(autoescape=False, keep_trailing_newline=True)
    filters = env.filters
    center, indent, format_ = filters["center"], filters["indent"], filters["format"]

    def bounded_center(value: Any, width: int = 80) -> Any:
        if isinstance(width, int) and width > limit:
            raise too_big("center", width)
        return center(value, width)

    def bounded_indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> Any:
        size = width if isinstance(width, int) else len(str(width))
        lines = str(value).count("\n") + 1
        if size * lines + len(str(value)) > limit:
            raise too_big("indent", size * lines)
        return indent(value, width, *args, **kwargs)

    def bounded_format(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_width(value, "the format filter")
        return format_(value, *args, **kwargs)

    filters.update(center=bounded_center, indent=bounded_indent, format=bounded_format)
    return env


def _check_repeat(seq: Any, times: Any, limit: int, too_big: Any) -> None:
    if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
        size = len(seq) * times
        if size > limit:
            raise too_big("'*'", size)


def _check_power(base: Any, exponent: Any, limit: int, too_big: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        digits = exponent * math.log10(abs(base))
        if digits > limit:
            raise too_big("'**'", digits)
