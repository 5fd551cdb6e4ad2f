"""Test child whose behaviour depends on how often it ran before.

Usage: counted.py COUNTER_FILE STEP...; run n follows STEP n (the last step repeats). A step is
"run" (print and sleep for a minute) or "SECONDS:CODE" (sleep, then exit with CODE).
"""

import os
import pathlib
import sys
import time

counter = pathlib.Path(sys.argv[1])
plan = sys.argv[2:]
runs = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(runs + 1))
step = plan[min(runs, len(plan) - 1)]
print(f"run {runs} pid {os.getpid()}", flush=True)
if step == "run":
    time.sleep(60)
    sys.exit(0)
seconds, code = step.split(":")
time.sleep(float(seconds))
sys.exit(int(code))
