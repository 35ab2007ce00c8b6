#!/usr/bin/env python3
"""Echo the JSON arguments read on stdin, with the working directory."""

import json
import os
import sys

arguments = json.load(sys.stdin)
print(json.dumps({"received": arguments, "cwd": os.getcwd(), "argv": sys.argv[1:]}))
print()
