"""``plugyard demo``: one host runs the five example plugins together.

The story (see :class:`Demo`): the lifecycle ``install`` workflow deploys a web server; every
step is a host event that the ZMQ logger subscriber and the asyncio monitoring plugin receive;
a Celery task computes fibonacci(26); a pod plugin, launched as a subprocess, stores a Dog; the
teapot route and the web server answer over HTTP; ``uninstall`` tears down and the host stops.
Every step is checked; the summary says what each model did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._setup import ExamplesNotFound, Layout, find_examples
    from ._story import FIBONACCI_26, Demo, ModelReport, Step, StepFailed

__all__ = [
    "FIBONACCI_26",
    "Demo",
    "ExamplesNotFound",
    "Layout",
    "ModelReport",
    "Step",
    "StepFailed",
    "find_examples",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ExamplesNotFound": "._setup",
        "Layout": "._setup",
        "find_examples": "._setup",
        "FIBONACCI_26": "._story",
        "Demo": "._story",
        "ModelReport": "._story",
        "Step": "._story",
        "StepFailed": "._story",
    },
    public=__all__,
)
