"""Three plugins for plugyard's asyncio model.

Each module is also a plugin file on its own: point ``[host] plugin_dirs`` at this folder
and list module names in ``active_plugins``.
"""
