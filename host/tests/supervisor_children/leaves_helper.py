"""Test child that leaves a helper holding its stdout behind, then exits with code 1.

With "--escape" the helper starts its own session, so it is outside the child's process group.
"""

import subprocess
import sys

escape = "--escape" in sys.argv
helper = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=escape
)
print(f"helper {helper.pid}", flush=True)
sys.exit(1)
