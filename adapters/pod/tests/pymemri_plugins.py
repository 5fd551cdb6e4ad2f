# ruff: noqa: UP045 (written as a Pymemri user writes, for Pymemri 0.1.2)
"""Pymemri plugins, as their authors write them; they run with Pymemri's interpreter only."""

from typing import Optional

from pymemri.data.schema import Item
from pymemri.data.schema.schema import SchemaMeta
from pymemri.plugin.pluginbase import PluginBase

META = SchemaMeta(name="kennels", url="https://example.org/kennels", version="0.1")


class Kennel(Item):
    name: Optional[str] = None
    size: Optional[int] = None


class KennelWriter(PluginBase):
    """Writes ``count`` Kennels, reporting progress."""

    def __init__(self, count: int = 2, tag: str = "k", **kwargs):
        super().__init__(**kwargs)
        self.count = count
        self.tag = tag

    def run(self):
        self.client.add_to_schema(META, Kennel)
        for n in range(self.count):
            self.client.create(Kennel(name=f"{self.tag}-{n}", size=n))
            self.set_progress((n + 1) / self.count)
        self.client.upload_file(f"plan of {self.tag}".encode(), asyncFlag=False)
        print("Run success!")


class Guard(PluginBase):
    """A daemon: writes one Kennel, then stays up serving its web API."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.daemon = True

    def run(self):
        self.client.add_to_schema(META, Kennel)
        self.client.create(Kennel(name="guarded", size=1))


class Broken(PluginBase):
    def run(self):
        raise RuntimeError("broken on purpose")
