"""Lazy public names: one helper every plugyard package uses for its ``__getattr__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    *,
    public: list[str],
    distribution: str | None = None,
    computed: Mapping[str, Callable[[], Any]] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` that import public names on first use.

    ``exports`` maps each name to the module that defines it (relative to ``package``, as
    ``"._host"``); ``public`` is the package's ``__all__``. With ``distribution``,
    ``__version__`` is that distribution's installed version; ``computed`` names values made
    by a function on first use (a shared app, say). Keeping imports lazy keeps
    ``plugyard --help`` and plugin processes fast.

    Example::

        __getattr__, __dir__ = lazy_exports(__name__, {"Host": "._host"}, public=__all__)
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name == "__version__" and distribution is not None:
            from importlib.metadata import PackageNotFoundError, version

            try:
                value: Any = version(distribution)
            except PackageNotFoundError:  # pragma: no cover - running from a source tree
                value = "0.0.0"
        elif computed is not None and name in computed:
            value = computed[name]()
        else:
            module = exports.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
