"""Where a blueprint's ``imports:`` entries come from.

Three kinds: Cloudify's standard ``types.yaml`` by URL (any version path), resolved offline to
plugyard's own definitions of the standard types; ``plugin:NAME`` (an installed plugin's
``plugin.yaml``); and files relative to the importing blueprint, which must stay inside the
blueprint's folder.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

__all__ = ["STANDARD_TYPES", "ImportRefused", "locate_import"]

STANDARD_TYPES = Path(__file__).with_name("standard") / "types.yaml"
"""plugyard's offline copy of the standard types: node types, relationships, interfaces,
data types and workflows under Cloudify's names."""

_STANDARD_URL = re.compile(
    r"^https?://(?:www\.)?(?:cloudify\.co|getcloudify\.org(?:\.s3\.amazonaws\.com)?|"
    r"cloudify\.io|raw\.githubusercontent\.com/cloudify-cosmo/cloudify-manager)"
    r"/(?:spec/cloudify/[^/]+|[^?#]*resources/rest-service/cloudify)/types\.yaml$"
)
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ImportRefused(ValueError):
    """An import that cannot be read; the message says why and what is accepted."""


def _inside(folder: Path, target: Path) -> bool:
    return target == folder or folder in target.parents


def _plugin_yaml(name: str, folder: Path) -> Path:
    local = folder / "plugins" / name / "plugin.yaml"
    if local.is_file():
        return local
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or ():
            if file.name == "plugin.yaml":
                found = Path(str(dist.locate_file(file))).resolve()
                if found.is_file():
                    return found
    raise ImportRefused(
        f"plugin {name!r} not found: expected plugins/{name}/plugin.yaml beside the "
        f"blueprint, or an installed distribution {name!r} that ships a plugin.yaml"
    )


def locate_import(item: str, importer: Path, root: Path) -> Path:
    """The file an ``imports:`` entry names, or ImportRefused.

    ``importer`` is the file holding the entry, ``root`` the folder of the main blueprint:
    relative imports resolve against the importer and must stay inside ``root`` (or inside
    the folder of the plugin that holds them).
    """
    if _STANDARD_URL.match(item):
        return STANDARD_TYPES
    if item.startswith("plugin:"):
        name = item[len("plugin:") :].split("?", 1)[0]
        if not _PLUGIN_NAME.match(name):
            raise ImportRefused(f"{item!r}: expected plugin:NAME")
        return _plugin_yaml(name, root)
    if "://" in item:
        raise ImportRefused(
            f"{item!r}: only Cloudify's standard types.yaml is accepted by URL (resolved "
            "offline); other imports are files in the blueprint's folder or plugin:NAME"
        )
    if Path(item).is_absolute():
        raise ImportRefused(
            f"{item!r} is an absolute path; imports are relative to the blueprint and stay "
            f"inside its folder {root}"
        )
    target = (importer.parent / item).resolve()
    allowed = root if _inside(root, importer) else importer.parent
    if not _inside(allowed, target):
        raise ImportRefused(
            f"{item!r} leaves the blueprint's folder {allowed}; imports must stay inside it"
        )
    if not target.is_file():
        raise ImportRefused(f"imported file {item!r} not found")
    return target
