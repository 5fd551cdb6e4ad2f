"""Pymemri's ExamplePlugin, ported to plugyard: it writes one Dog to the pod.

Run it with ``plugyard pod run-plugin --metadata plugin.json --config-file config.json``
or launch it through a host with ``plugyard pod launch --metadata plugin.json --wait``.
"""

from __future__ import annotations

from plugyard.sdk.pod import Item, PodPlugin

__all__ = ["Dog", "ExamplePlugin"]


class Dog(Item):
    """A dog, as in Pymemri's example schema."""

    name: str | None
    age: int | None


class ExamplePlugin(PodPlugin):
    """Creates a Dog named after its ``dog_name`` configuration (default "Bob")."""

    schema_classes = [Dog]

    def __init__(self, dog_name: str = "Bob", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.dog_name = dog_name

    def run(self) -> None:
        self.log.info("Started plugin run...")
        dog = Dog(self.dog_name, 10)
        self.client.create(dog)
        self.log.info("Run success!")
