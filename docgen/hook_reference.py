"""The hook reference, generated from the hook specifications at build time.

``<!-- plugyard:hooks -->`` on a page becomes one section per specification module: the
host's (``plugyard.host.hookspecs``) and every module an installed adapter adds through
``plugyard_addhooks``. Each hook shows its specification as written, its pluggy options, its
call policy, its version history and its docstring.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["HookDoc", "collect", "on_page_markdown", "render", "rst_to_markdown"]

MARKER = "<!-- plugyard:hooks -->"


@dataclass(frozen=True)
class HookDoc:
    """One hook specification, as the reference shows it."""

    name: str
    module: str
    source: str
    kind: str
    policy: str
    doc: str
    line: int
    history: tuple[tuple[str, str], ...] = ()
    """``(spec version, what happened)`` from the specification's ``@versioned``."""


def _spec_plugin_manager() -> Any:
    """A plugin manager with the host's specifications and every installed adapter's."""
    import pluggy

    from plugyard.host import entry_points, hookspecs, import_target
    from plugyard.sdk import PROJECT_NAME

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.hook.plugyard_addhooks.call_historic(kwargs={"pluginmanager": pm})
    for info in entry_points("plugyard.adapters"):
        pm.register(import_target(info.value, where=info.name), name=info.name)
    return pm


def _signature_source(func: Callable[..., Any]) -> str:
    """The decorators and ``def`` line of a specification, as written, without the colon."""
    lines, _ = inspect.getsourcelines(func)
    head: list[str] = []
    for line in lines:
        head.append(line.rstrip())
        if line.rstrip().endswith(":") and not line.lstrip().startswith("@"):
            break
    text = inspect.cleandoc("\n".join(head))
    return text.removesuffix(":")


def rst_to_markdown(text: str) -> str:
    """Docstring markup to Markdown: ````x```` and ``:class:`~a.B``` to code spans, and
    ``Example::`` blocks to fenced Python."""
    text = re.sub(r":(?:class|func|meth|mod|attr|data):`~?([^`]+)`", _role, text)
    text = re.sub(r"``(.+?)``", r"`\1`", text, flags=re.DOTALL)
    out: list[str] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            index += 1
            block: list[str] = []
            while index < len(lines) and (not lines[index].strip() or lines[index][:1] == " "):
                block.append(lines[index])
                index += 1
            out += ["", "```python", inspect.cleandoc("\n".join(block)), "```", ""]
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
    return f"``{shown}``"


def _kind(opts: dict[str, Any]) -> str:
    kinds = [name for name in ("historic", "firstresult") if opts.get(name)]
    return ", ".join(kinds) if kinds else "plain"


def _policy(func: Callable[..., Any]) -> str:
    from plugyard.host import HookPolicy

    policy = getattr(func, "plugyard_policy", None)
    if not isinstance(policy, HookPolicy):
        return "none: a plain pluggy call (`host.hook.NAME(...)`), not dispatched by `acall`"
    timeout = "from the host's settings" if policy.timeout is None else f"{policy.timeout:g} s"
    return f"`errors={policy.errors}`, `result={policy.result}`, timeout {timeout}"


def _history(func: Callable[..., Any]) -> tuple[tuple[str, str], ...]:
    from plugyard.host import HookVersion

    version = getattr(func, "plugyard_version", None)
    return tuple(version.history()) if isinstance(version, HookVersion) else ()


def collect() -> list[HookDoc]:
    """Every plugyard hook specification that the host and installed adapters declare."""
    pm = _spec_plugin_manager()
    found = []
    for name in dir(pm.hook):
        caller = getattr(pm.hook, name)
        spec = getattr(caller, "spec", None)
        if spec is None or not name.startswith("plugyard_"):
            continue
        func = spec.function
        found.append(
            HookDoc(
                name=name,
                module=func.__module__,
                source=_signature_source(func),
                kind=_kind(spec.opts),
                policy=_policy(func),
                doc=rst_to_markdown(inspect.getdoc(func) or ""),
                line=inspect.getsourcelines(func)[1],
                history=_history(func),
            )
        )
    return found


def _module_title(module: ModuleType) -> str:
    if module.__name__ == "plugyard.host.hookspecs":
        return "Host hooks"
    parts = module.__name__.split(".")
    if parts[:2] == ["plugyard", "adapters"] and len(parts) > 2:
        return f"{parts[2].capitalize()} adapter hooks"
    return module.__name__


def render() -> str:
    """The reference as Markdown: a section per specification module, a heading per hook."""
    hooks = collect()
    modules = sorted({h.module for h in hooks}, key=lambda m: (m != "plugyard.host.hookspecs", m))
    from plugyard.sdk import SPEC_VERSION

    out = [f"This host speaks hook spec **{SPEC_VERSION}**.\n"]
    for name in modules:
        module = importlib.import_module(name)
        out.append(f"## {_module_title(module)}\n")
        out.append(f"Declared in `{name}`.\n")
        intro = inspect.getdoc(module) or ""
        if intro and name != "plugyard.host.hookspecs":
            out.append(rst_to_markdown(intro) + "\n")
        for hook in sorted((h for h in hooks if h.module == name), key=lambda h: h.line):
            out.append(f"### {hook.name}\n")
            out.append(f"```python\n{hook.source}\n```\n")
            out.append(f"- **Kind:** {hook.kind}")
            out.append(f"- **Policy:** {hook.policy}")
            if hook.history:
                entries = "; ".join(f"{version}: {what}" for version, what in hook.history)
                out.append(f"- **History (hook spec):** {entries}")
            out.append("")
            out.append(hook.doc + "\n")
    return "\n".join(out)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: replace the ``<!-- plugyard:hooks -->`` marker with the reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
