"""Loading the asyncio adapter (as `plugyard --help` does) imports no web library."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_adapter_imports_no_web_library() -> None:
    code = (
        "import sys; from plugyard.adapters.asyncio._adapter import adapter; "
        "heavy = [m for m in ('starlette', 'uvicorn', 'httpx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
