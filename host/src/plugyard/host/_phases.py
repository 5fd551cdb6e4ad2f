"""The host's phases and the moves allowed between them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Phase", "PhaseError", "Phases"]


class Phase(StrEnum):
    """Where a host is in its life. A host runs once: ``stopped`` is final."""

    NEW = "new"
    LOADING = "loading"
    LOADED = "loaded"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    STOPPED = "stopped"


class PhaseError(RuntimeError):
    """A host was asked to do something its phase does not allow."""


_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.NEW: frozenset({Phase.LOADING}),
    # a load that fails is rolled back to NEW, so that load() can be tried again
    Phase.LOADING: frozenset({Phase.LOADED, Phase.NEW}),
    Phase.LOADED: frozenset({Phase.STARTING, Phase.STOPPING}),
    Phase.STARTING: frozenset({Phase.STARTED, Phase.STOPPING}),
    Phase.STARTED: frozenset({Phase.STOPPING}),
    Phase.STOPPING: frozenset({Phase.STOPPED}),
    Phase.STOPPED: frozenset(),
}


class Phases:
    """The current phase, changed only along the moves in the table above."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current = Phase.NEW

    def move(self, to: Phase) -> None:
        """Go to ``to``; a move the table does not allow raises :class:`PhaseError`."""
        if to not in _MOVES[self.current]:
            raise PhaseError(f"a host cannot go from {self.current} to {to}")
        self.current = to

    def allows(self, to: Phase) -> bool:
        """Whether :meth:`move` to ``to`` would succeed now."""
        return to in _MOVES[self.current]

    def __repr__(self) -> str:
        return f"<Phases {self.current}>"
