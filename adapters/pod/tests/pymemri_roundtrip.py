# ruff: noqa: UP006, UP017, UP035, UP045 (written as a Pymemri user writes, for Pymemri 0.1.2)
"""Run with Pymemri's interpreter: drives Pymemri's own PodClient against a pod, prints a report.

Usage: python pymemri_roundtrip.py POD_ADDRESS DATABASE_KEY HOUND_ID
"""

import json
import sys
from datetime import datetime, timezone
from hashlib import sha256
from typing import List, Optional

from pymemri.data.schema import Item, Person
from pymemri.data.schema.schema import SchemaMeta
from pymemri.pod.client import PodClient


class Hound(Item):
    name: Optional[str] = None
    age: Optional[int] = None
    bites: Optional[bool] = None
    weight: Optional[float] = None
    dateOfBirth: Optional[datetime] = None
    owner: List[Person] = []


def main(url, key, hound_id):
    client = PodClient(url=url, database_key=key, owner_key="plugyard")
    report = {"version": client.api.pod_version}
    meta = SchemaMeta(name="hounds", url="https://example.org/hounds", version="0.1")
    report["add_to_schema"] = client.add_to_schema(meta, Hound, Person)

    born = datetime(2020, 5, 17, 8, 30, tzinfo=timezone.utc)
    rita = Hound(name="Rita", age=3, bites=False, weight=12.5, dateOfBirth=born)
    ann = Person(firstName="Ann")
    report["create"] = [client.create(rita), client.create(ann)]
    report["create_edge"] = client.create_edge(rita.add_edge("owner", ann))

    got = client.get(rita.id)
    report["get"] = {
        "name": got.name,
        "age": got.age,
        "bites": got.bites,
        "weight": got.weight,
        "dateOfBirth": got.dateOfBirth.isoformat(),
        "owner": [p.firstName for p in got.owner],
    }
    theirs = client.get(hound_id)
    report["theirs"] = {"name": theirs.name, "age": theirs.age}
    found = client.search({"type": "Hound", "name": "Rita"})
    report["search"] = [[h.id, [p.firstName for p in h.owner]] for h in found]
    report["search_unknown_type"] = client.search({"type": "Unicorn"})

    rita.age = 4
    report["update_item"] = client.update_item(rita)

    pups = [Hound(name=f"pup-{n}", age=0) for n in range(5)]
    edges = [pup.add_edge("owner", ann) for pup in pups]
    report["bulk_action"] = client.bulk_action(create_items=pups, create_edges=edges)
    report["search_ids"] = sorted(h.name for h in client.search({"ids": [p.id for p in pups[:2]]}))
    pages = client.search_paginate({"type": "Hound"}, limit=3)
    report["pages"] = [[h.name for h in page] for page in pages]
    report["delete_items"] = client.delete_items(pups[3:])
    report["after_delete"] = sorted(h.name for h in client.search({"type": "Hound"}))

    data = b"a photo, as far as the pod cares"
    report["upload_file"] = client.upload_file(data, asyncFlag=False)
    report["upload_again"] = client.upload_file(data, asyncFlag=False)
    report["get_file"] = client.get_file(sha256(data).hexdigest()).decode()
    report["ids"] = {"rita": rita.id, "ann": ann.id, "pups": [p.id for p in pups]}
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])
