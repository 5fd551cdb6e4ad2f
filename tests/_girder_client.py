"""Sends one task as Girder does, with girder_worker's job headers, and prints its id (and,
with --wait, its result as JSON).

    python _girder_client.py BROKER TASK ARGS_JSON [--job URL] [--queue Q] [--wait BACKEND]

BROKER is an AMQP URL, or ``plugyard`` for the broker in $PLUGYARD_CONFIG.
"""

from __future__ import annotations

import argparse
import json

from celery import Celery


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("broker")
    parser.add_argument("task")
    parser.add_argument("args")
    parser.add_argument("--job", help="the Girder job's URL (jobInfoSpec url)")
    parser.add_argument("--queue")
    parser.add_argument("--wait", metavar="BACKEND")
    ns = parser.parse_args()
    if ns.broker == "plugyard":
        from plugyard.adapters.celery import connect

        app = connect()
    else:
        app = Celery("girder-client", broker=ns.broker, backend=ns.wait or None)
    headers = {}
    if ns.job:
        api = ns.job.split("/job/")[0]
        headers = {
            "jobInfoSpec": {
                "method": "PUT",
                "url": ns.job,
                "reference": "job-1",
                "headers": {"Girder-Token": "token-1"},
                "logPrint": True,
            },
            "girder_api_url": api,
            "girder_client_token": "token-1",
        }
    options = {"queue": ns.queue} if ns.queue else {}
    result = app.send_task(ns.task, args=json.loads(ns.args), headers=headers, **options)
    print(result.id, flush=True)
    if ns.wait:
        print(json.dumps(result.get(timeout=60)))


if __name__ == "__main__":
    main()
