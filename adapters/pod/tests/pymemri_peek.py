"""Run with Pymemri's interpreter: what one token reaches through Pymemri's PodClient.

Usage: python pymemri_peek.py POD_ADDRESS client|plugin TOKEN OWN_ID OTHER_ID
"""

import json
import sys

from pymemri.pod.api import PodError
from pymemri.pod.client import PodClient
from pymemri_plugins import Kennel


def attempt(call):
    try:
        return call()
    except PodError as exc:
        return {"status": exc.status, "message": exc.message}
    except ValueError as exc:
        return {"error": str(exc)}


def main(url, kind, token, own_id, other_id):
    if kind == "plugin":
        client = PodClient(url=url, owner_key="plugyard", auth_json={"token": token})
    else:
        client = PodClient(url=url, owner_key="plugyard", database_key=token)
    client.registered_classes["Kennel"] = Kennel
    report = {
        "own": attempt(lambda: client.get(own_id).name),
        "other": attempt(lambda: client.get(other_id).name),
        "other_raw": attempt(lambda: client.api.get_item(other_id)),
        "search": attempt(lambda: sorted(k.name for k in client.search({"type": "Kennel"}))),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:6])
