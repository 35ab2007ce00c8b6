#!/usr/bin/env python3
"""Write 300 KB to stdout without reading stdin."""

import sys

sys.stdout.write("y" * 300_000)
