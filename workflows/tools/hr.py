"""HR tools for hr_onboarding.yaml: the employee directory and interviewer calendars.

Reads the sample data in ../data/ (employees.json, interview_calendar.json). Replace the
loaders with calls to your HRIS and calendar APIs; the function signatures are what the
workflow's `tools:` section declares.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


def _employees() -> list[dict[str, Any]]:
    with open(DATA / "employees.json", encoding="utf-8") as f:
        return json.load(f)


def _calendar() -> dict[str, Any]:
    with open(DATA / "interview_calendar.json", encoding="utf-8") as f:
        return json.load(f)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "email", "title", "department", "team", "location", "timezone")
    return {k: record[k] for k in keys}


def lookup_employee(employee_id: str) -> dict[str, Any]:
    """An employee's directory record, with their manager's name."""
    people = {p["id"]: p for p in _employees()}
    person = people.get(employee_id.strip().upper())
    if person is None:
        raise LookupError(
            f"no employee with id {employee_id!r}; ids look like E1002 "
            f"(known: {', '.join(sorted(people))})"
        )
    manager = people.get(person["manager_id"] or "")
    return {
        **_public(person),
        "languages": person["languages"],
        "skills": person["skills"],
        "manager": _public(manager) if manager else None,
    }


def find_interviewers(
    skills: list[str], department: str | None = None, max_results: int = 3
) -> dict[str, Any]:
    """Interviewers ranked by how many of `skills` they cover (ties: by id)."""
    wanted = {s.strip().lower() for s in skills}
    ranked = []
    for person in _employees():
        if not person["interviewer"]:
            continue
        if department and person["department"].lower() != department.lower():
            continue
        matched = sorted(wanted & {s.lower() for s in person["skills"]})
        ranked.append((-len(matched), person["id"], person, matched))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return {
        "interviewers": [
            {**_public(p), "interview_focus": p["interview_focus"], "matched_skills": m}
            for _, _, p, m in ranked[:max_results]
        ],
        "searched_skills": sorted(wanted),
    }


def propose_interview_slots(
    interviewer_ids: list[str],
    earliest_date: str,
    duration_minutes: int = 60,
    days: int = 5,
    max_slots: int = 3,
) -> dict[str, Any]:
    """Free slots per interviewer on working days, in each interviewer's local time."""
    calendar = _calendar()
    start_of_day = time.fromisoformat(calendar["working_hours"]["start"])
    end_of_day = time.fromisoformat(calendar["working_hours"]["end"])
    people = {p["id"]: p for p in _employees()}
    first = date.fromisoformat(earliest_date)
    length = timedelta(minutes=duration_minutes)
    result: dict[str, Any] = {}
    for raw_id in interviewer_ids:
        person_id = raw_id.strip().upper()
        person = people.get(person_id)
        if person is None or not person["interviewer"]:
            result[raw_id] = {"error": "not an interviewer"}
            continue
        busy = [
            (datetime.fromisoformat(a), datetime.fromisoformat(b))
            for a, b in calendar["busy"].get(person_id, [])
        ]
        slots: list[str] = []
        day = first
        checked = 0
        while checked < days and len(slots) < max_slots:
            if day.weekday() < 5:
                checked += 1
                cursor = datetime.combine(day, start_of_day)
                closing = datetime.combine(day, end_of_day)
                while cursor + length <= closing and len(slots) < max_slots:
                    if all(cursor + length <= b0 or cursor >= b1 for b0, b1 in busy):
                        slots.append(cursor.isoformat(timespec="minutes"))
                        cursor += length + timedelta(minutes=30)  # keep a gap for notes
                    else:
                        cursor += timedelta(minutes=30)
            day += timedelta(days=1)
        result[person_id] = {
            "name": person["name"],
            "timezone": person["timezone"],
            "free_slots": slots,
        }
    return {"duration_minutes": duration_minutes, "slots": result}
