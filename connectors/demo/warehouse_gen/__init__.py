"""The demo warehouse: three years (2023–2025) of Larkspur Systems sales, returns and expenses.

Deterministic: the same ``seed`` and ``scale`` give the same rows, so tests and evals can rely
on exact numbers. Customers, products and regions come from :mod:`connectors.demo.company`
(the same "Acme Corporation" as in the CRM); employees are the people of the directory the
caller passes in, plus generated staff. Writes a SQLite file (:func:`generate_warehouse`) or loads a PostgreSQL
database (:func:`load_postgres`).
"""

from __future__ import annotations

from connectors.demo.warehouse_gen.data import Person, generate_data
from connectors.demo.warehouse_gen.schema import TABLE_ORDER, TABLES, WarehouseStats, ddl
from connectors.demo.warehouse_gen.writers import generate_warehouse, load_postgres

__all__ = [
    "TABLES",
    "TABLE_ORDER",
    "Person",
    "WarehouseStats",
    "ddl",
    "generate_data",
    "generate_warehouse",
    "load_postgres",
]
