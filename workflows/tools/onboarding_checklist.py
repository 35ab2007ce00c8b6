#!/usr/bin/env python3
"""Command tool for hr_onboarding.yaml: a dated onboarding checklist for a new hire.

Reads JSON on stdin ({"department": "Engineering", "start_date": "2025-04-07"}) and prints
JSON on stdout. Due dates count business days from the start date (negative: before day 1).
Exit code 2 with a message on stderr when the input is unusable.
"""

import json
import sys
from datetime import date, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "onboarding_checklists.json"


def add_business_days(start: date, offset: int) -> date:
    step = 1 if offset >= 0 else -1
    day, remaining = start, abs(offset)
    while remaining:
        day += timedelta(days=step)
        if day.weekday() < 5:
            remaining -= 1
    return day


def main() -> int:
    try:
        request = json.load(sys.stdin)
        start = date.fromisoformat(request["start_date"])
    except (ValueError, KeyError, TypeError) as exc:
        print(f"expected JSON with start_date as YYYY-MM-DD: {exc}", file=sys.stderr)
        return 2
    department = request.get("department", "")
    checklists = json.loads(DATA.read_text(encoding="utf-8"))
    specific = checklists["departments"].get(department, [])
    tasks = sorted(checklists["common"] + specific, key=lambda t: (t["offset_days"], t["task"]))
    json.dump(
        {
            "department": department,
            "start_date": start.isoformat(),
            "department_specific": bool(specific),
            "tasks": [
                {
                    "task": t["task"],
                    "owner": t["owner"],
                    "due": add_business_days(start, t["offset_days"]).isoformat(),
                }
                for t in tasks
            ],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
