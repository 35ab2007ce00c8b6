"""Inventory tools for inventory_reorder.yaml: stock levels, sales history, supplier catalog.

Reads the sample data in ../data/ (stock_levels.csv, sales_history.csv, suppliers.json). In
production these would query the WMS and procurement systems behind the same signatures.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _weekly_sales(sku: str, warehouse: str) -> list[tuple[str, int]]:
    return [
        (r["week_start"], int(r["units_sold"]))
        for r in _rows("sales_history.csv")
        if r["sku"] == sku and r["warehouse"] == warehouse
    ]


def get_stock_levels(warehouse: str, skus: list[str] | None = None) -> dict[str, Any]:
    """Stock position per SKU in a warehouse, with recent demand and weeks of cover."""
    wanted = {s.strip().upper() for s in skus} if skus else None
    items = []
    for row in _rows("stock_levels.csv"):
        if row["warehouse"] != warehouse.strip().upper():
            continue
        if wanted is not None and row["sku"] not in wanted:
            continue
        available = int(row["on_hand"]) - int(row["allocated"])
        position = available + int(row["on_order"])
        recent = [units for _, units in _weekly_sales(row["sku"], row["warehouse"])[-4:]]
        weekly = sum(recent) / len(recent) if recent else 0.0
        items.append(
            {
                "sku": row["sku"],
                "name": row["name"],
                "unit": row["unit"],
                "on_hand": int(row["on_hand"]),
                "allocated": int(row["allocated"]),
                "available": available,
                "on_order": int(row["on_order"]),
                "inventory_position": position,
                "reorder_point": int(row["reorder_point"]),
                "safety_stock": int(row["safety_stock"]),
                "below_reorder_point": position < int(row["reorder_point"]),
                "unit_cost": float(row["unit_cost"]),
                "lead_time_days": int(row["lead_time_days"]),
                "avg_weekly_sales_4w": round(weekly, 1),
                "weeks_of_cover": round(max(available, 0) / weekly, 1) if weekly else None,
            }
        )
    known = sorted({r["warehouse"] for r in _rows("stock_levels.csv")})
    if not items and warehouse.strip().upper() not in known:
        raise LookupError(f"unknown warehouse {warehouse!r}; known: {', '.join(known)}")
    missing = sorted(wanted - {i["sku"] for i in items}) if wanted else []
    return {"warehouse": warehouse.strip().upper(), "items": items, "unknown_skus": missing}


def get_sales_history(sku: str, warehouse: str, weeks: int = 12) -> dict[str, Any]:
    """Weekly units sold (oldest first), with mean and least-squares trend per week."""
    history = _weekly_sales(sku.strip().upper(), warehouse.strip().upper())[-weeks:]
    if not history:
        return {"sku": sku, "warehouse": warehouse, "weeks": [], "message": "no sales recorded"}
    units = [u for _, u in history]
    n = len(units)
    mean = sum(units) / n
    x_mean = (n - 1) / 2
    spread = sum((x - x_mean) ** 2 for x in range(n)) or 1.0
    slope = sum((x - x_mean) * (u - mean) for x, u in enumerate(units)) / spread
    return {
        "sku": sku.strip().upper(),
        "warehouse": warehouse.strip().upper(),
        "weeks": [{"week_start": w, "units_sold": u} for w, u in history],
        "mean_weekly_units": round(mean, 1),
        "trend_units_per_week": round(slope, 2),
        "last_4_weeks_mean": round(sum(units[-4:]) / len(units[-4:]), 1),
    }


def search_suppliers(sku: str, quantity: int) -> dict[str, Any]:
    """Supplier offers for a SKU at a quantity (raised to each MOQ), lowest order total first."""
    with open(DATA / "suppliers.json", encoding="utf-8") as f:
        suppliers = json.load(f)
    wanted = sku.strip().upper()
    offers = []
    for supplier in suppliers:
        for entry in supplier["catalog"]:
            if entry["sku"] != wanted:
                continue
            order_qty = max(quantity, entry["moq"])
            price = min(
                (b["unit_price"] for b in entry["price_breaks"] if b["min_qty"] <= order_qty),
                default=entry["price_breaks"][0]["unit_price"],
            )
            offers.append(
                {
                    "supplier_id": supplier["id"],
                    "supplier_name": supplier["name"],
                    "country": supplier["country"],
                    "order_quantity": order_qty,
                    "moq": entry["moq"],
                    "unit_price": price,
                    "total": round(price * order_qty, 2),
                    "lead_time_days": entry["lead_time_days"],
                    "on_time_rate": supplier["on_time_rate"],
                    "quality_rating": supplier["quality_rating"],
                    "payment_terms": supplier["payment_terms"],
                }
            )
    offers.sort(key=lambda o: (o["total"], o["lead_time_days"], o["supplier_id"]))
    return {"sku": wanted, "requested_quantity": quantity, "offers": offers}
