"""The public names of plugyard.adapters.asyncio and plugyard.sdk.events, pinned."""

from __future__ import annotations

import subprocess
import sys

import plugyard.adapters.asyncio as adapter_package
import plugyard.sdk.events as events


def test_adapter_public_names() -> None:
    assert sorted(adapter_package.__all__) == [
        "AsyncioAdapter",
        "AsyncioSettings",
        "EmitResult",
        "EventHub",
        "EventType",
        "HandlerOutcome",
        "HttpSettings",
        "OverflowPolicy",
        "PayloadError",
        "QueueFullError",
        "RouteClashError",
        "UnknownEventError",
        "adapter",
    ]
    for name in adapter_package.__all__:
        assert getattr(adapter_package, name) is not None


def test_sdk_events_public_names() -> None:
    assert sorted(events.__all__) == [
        "BackgroundPlugin",
        "BaseEventSendingPlugin",
        "BaseRequestMonitoringPlugin",
        "EventPlugin",
        "MonitoringPayload",
        "MonitoringPoint",
        "PluginApp",
        "ROUTE_ATTR",
        "RouteSpec",
        "SendingPayload",
        "route",
    ]


def test_luna_compat_public_names() -> None:
    from plugyard.adapters.asyncio.compat import luna

    assert sorted(luna.__all__) == [
        "LUNA_MODULES",
        "LUNA_TOP_LEVEL",
        "activate",
        "active",
        "deactivate",
        "is_luna_plugin",
        "luna_imports",
    ]
    assert {
        name: names for name, (_, names) in luna.LUNA_MODULES.items() if ".cow." not in name
    } == {
        "classes.event": ("Event",),
        "classes.schemas.event_raw": ("RawEvent",),
        "crutches_on_wheels.monitoring.points": (
            "BaseMonitoringPoint",
            "BaseRequestMonitoringPoint",
            "RequestMonitoringPoint",
        ),
        "crutches_on_wheels.plugins.plugins_meta.base_plugins": (
            "BaseEventPlugin",
            "BaseBackgroundPlugin",
            "BasePlugin",
        ),
        "crutches_on_wheels.utils.log": ("Logger",),
        "crutches_on_wheels.web.application": ("LunaApplication",),
        "crutches_on_wheels.web.handlers": ("BaseHandler",),
        "luna_plugins.base.plugins_meta.base_plugins": (
            "BaseEventPlugin",
            "BaseBackgroundPlugin",
            "BasePlugin",
        ),
    }


def test_loading_the_adapter_imports_no_web_library() -> None:
    code = (
        "import sys; from plugyard.adapters.asyncio._adapter import adapter; "
        "heavy = [m for m in ('starlette', 'uvicorn', 'httpx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
