#!/usr/bin/env python3
"""Start a child process, write both pids to the file named in the arguments, then hang."""

import json
import os
import subprocess
import sys
import time

arguments = json.load(sys.stdin)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(arguments["pid_file"], "w") as f:
    f.write(f"{child.pid} {os.getpid()}")
time.sleep(60)
