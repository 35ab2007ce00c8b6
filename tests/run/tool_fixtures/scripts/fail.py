#!/usr/bin/env python3
"""Write twenty numbered lines to stderr, then exit with code 3."""

import sys

for n in range(1, 21):
    print(f"stderr line {n}", file=sys.stderr)
print("partial output")
sys.exit(3)
