"""Resources: files in the blueprint's folder, read or rendered in a Jinja2 sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import NonRecoverableError

__all__ = ["render_template", "resolve_resource"]


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


def render_template(text: str, ctx: Any, variables: Mapping[str, Any] | None, name: str) -> str:
    """Render ``text`` in a sandboxed Jinja2 environment with ``ctx`` and ``variables``."""
    variables = dict(variables or {})
    if "ctx" in variables:
        raise NonRecoverableError(
            f"rendering {name!r}: 'ctx' is reserved in template_variables; it is injected "
            "automatically"
        )
    try:
        from jinja2 import TemplateError
        from jinja2.sandbox import SandboxedEnvironment
    except ImportError as exc:  # pragma: no cover - the lifecycle extra is missing
        raise NonRecoverableError(
            "rendering resources needs Jinja2: pip install 'plugyard-sdk[lifecycle]'"
        ) from exc
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    try:
        return env.from_string(text).render(ctx=ctx, **variables)
    except TemplateError as exc:
        raise NonRecoverableError(f"rendering {name!r} failed: {exc}") from exc
