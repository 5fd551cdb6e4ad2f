"""YAML read within limits: a blueprint of a few hundred bytes must not expand to gigabytes.

YAML aliases let a small file describe a huge document (``a: &a [x, x]``, ``b: &b [*a, *a]``
... doubles with each line). PyYAML builds such a document cheaply, sharing the repeated
parts, but anything that walks or stores it (input merging, the deployment database) pays
for every copy. So the document is composed first, its size counted as it would be expanded
(each node once per path that reaches it), and refused past ``max_nodes``; its nesting is
refused past ``max_depth``; the file itself past ``max_size`` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["YamlLimitError", "YamlLimits", "load_yaml", "set_default_limits"]


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """How big a YAML document may be, as text and as expanded data."""

    max_size: int = 4 * 1024 * 1024
    """Bytes of YAML text."""
    max_nodes: int = 1_000_000
    """Scalars, sequences and mappings, counting each alias as the copy it stands for."""
    max_depth: int = 100
    """Sequences and mappings nested in one another."""


_default: list[YamlLimits] = []


def set_default_limits(limits: YamlLimits) -> None:
    """The limits used when none are given (a host sets them from ``[lifecycle]``)."""
    _default[:] = [limits]


class YamlLimitError(ValueError):
    """A document over one of the :class:`YamlLimits`; the message says which."""


def load_yaml(text: str, limits: YamlLimits | None = None) -> Any:
    """Parse ``text`` (safe types only) within ``limits``.

    Raises ``yaml.YAMLError`` for text that is not YAML, and :class:`YamlLimitError` for a
    document over a limit.
    """
    import yaml  # type: ignore[import-untyped]

    limits = limits or (_default[0] if _default else YamlLimits())
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > limits.max_size:
        raise YamlLimitError(f"{size} bytes of YAML, over the limit of {limits.max_size}")
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlLimitError(
                f"nested too deeply (the limit is {limits.max_depth} levels)"
            ) from None
        if node is None:
            return None
        _check(node, limits)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check(root: Any, limits: YamlLimits) -> None:
    """Count the expanded size and the depth of a composed document, without recursion."""
    import yaml

    expanded: dict[int, int] = {}  # node id -> its expanded size, once known
    depth_of: dict[int, int] = {}  # node id -> the deepest nesting below it
    stack: list[tuple[Any, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in expanded and not done:
            continue
        children = _children(node, yaml)
        if not done:
            if key in on_path:  # a recursive alias: expands forever
                raise YamlLimitError("an alias refers to a node that contains it")
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in expanded)
            if len(on_path) > limits.max_depth + 1:
                raise YamlLimitError(f"nested deeper than the limit of {limits.max_depth} levels")
            continue
        on_path.discard(key)
        total = 1 + sum(expanded[id(child)] for child in children)
        depth = 1 + max((depth_of[id(child)] for child in children), default=0)
        if total > limits.max_nodes:
            raise YamlLimitError(
                f"expands to more than {limits.max_nodes} values (aliases counted as the "
                "copies they stand for)"
            )
        if depth > limits.max_depth:
            raise YamlLimitError(f"nested deeper than the limit of {limits.max_depth} levels")
        expanded[key] = total
        depth_of[key] = depth


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
