"""``python -m plugyard.sdk.pod --from-env``: what launchers start in a plugin's process."""

from __future__ import annotations

from ._runner import main

raise SystemExit(main())
