"""Test child that starts a grandchild in its own process group, prints its pid and sleeps."""

import subprocess
import sys
import time

grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(f"grandchild {grandchild.pid}", flush=True)
time.sleep(60)
