"""Finance tools for finance_invoice_processing.yaml: purchase orders, vendors, payment dates.

Reads the sample data in ../data/ (purchase_orders.json, vendors.json). In production these
would query the ERP; keep the signatures, which the workflow's `tools:` section declares.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"
PAYMENT_RUN_WEEKDAYS = (1, 3)  # payment runs go out on Tuesdays and Thursdays
_TERMS = re.compile(r"^\s*(?:(?P<pct>\d+(?:\.\d+)?)/(?P<disc>\d+)\s+)?net\s*(?P<net>\d+)\s*$", re.I)


def _load(name: str) -> Any:
    with open(DATA / name, encoding="utf-8") as f:
        return json.load(f)


def find_purchase_order(po_number: str) -> dict[str, Any]:
    """An open purchase order with its lines, quantities received and the amount still open."""
    wanted = po_number.strip().upper().replace(" ", "")
    for po in _load("purchase_orders.json"):
        if po["po_number"] == wanted:
            lines = [
                {
                    **line,
                    "line_total": round(line["quantity"] * line["unit_price"], 2),
                    "received_value": round(line["received_quantity"] * line["unit_price"], 2),
                }
                for line in po["lines"]
            ]
            return {
                **po,
                "lines": lines,
                "ordered_total": round(sum(x["line_total"] for x in lines), 2),
                "received_total": round(sum(x["received_value"] for x in lines), 2),
            }
    return {
        "found": False,
        "po_number": wanted,
        "message": "no open purchase order with this number",
    }


def lookup_vendor(name: str) -> dict[str, Any]:
    """The vendor master record for a vendor name, alias or id (case-insensitive)."""
    key = name.strip().lower()
    for vendor in _load("vendors.json"):
        names = [vendor["id"], vendor["name"], *vendor["aliases"]]
        if any(key == n.lower() for n in names):
            return {"found": True, **vendor}
    for vendor in _load("vendors.json"):
        if any(key in n.lower() or n.lower() in key for n in [vendor["name"], *vendor["aliases"]]):
            return {"found": True, "matched_by": "partial name", **vendor}
    return {
        "found": False,
        "name": name,
        "message": "not in the vendor master; onboarding required",
    }


def payment_dates(invoice_date: str, payment_terms: str, amount: float) -> dict[str, Any]:
    """Due date, early-payment discount and the payment run to use for an invoice."""
    issued = date.fromisoformat(invoice_date)
    match = _TERMS.match(payment_terms)
    if match is None:
        raise ValueError(
            f"unrecognised payment terms {payment_terms!r}; use 'net 30' or '2/10 net 30'"
        )
    due = issued + timedelta(days=int(match["net"]))
    result: dict[str, Any] = {
        "invoice_date": issued.isoformat(),
        "due_date": due.isoformat(),
        "discount": None,
    }
    target = due
    if match["pct"]:
        deadline = issued + timedelta(days=int(match["disc"]))
        saving = round(amount * float(match["pct"]) / 100, 2)
        result["discount"] = {
            "percent": float(match["pct"]),
            "pay_by": deadline.isoformat(),
            "saving": saving,
            "amount_if_taken": round(amount - saving, 2),
        }
        target = deadline
    run = target
    while run.weekday() not in PAYMENT_RUN_WEEKDAYS:
        run -= timedelta(days=1)
    result["payment_run"] = max(run, issued).isoformat()
    return result
