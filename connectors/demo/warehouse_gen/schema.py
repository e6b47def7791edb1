"""The demo warehouse's tables (columns, types, comments), their load order and DDL per dialect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

START = date(2023, 1, 1)
END = date(2025, 12, 31)

Progress = Callable[[str, int, int], None]  # (step, done, total)

# --------------------------------------------------------------------------------------------
# Schema: (column, sqlite type, postgres type, constraint, comment)

Column = tuple[str, str, str, str, str]

TABLES: dict[str, tuple[str, tuple[Column, ...]]] = {
    "regions": (
        "Sales regions. Every customer and order belongs to one.",
        (
            ("region_code", "TEXT", "TEXT", "PRIMARY KEY", "Short region code, e.g. NA-W, EMEA"),
            ("name", "TEXT", "TEXT", "NOT NULL", "Region name as used in reports"),
        ),
    ),
    "departments": (
        "Company departments; each has a cost center that expenses are booked to.",
        (
            ("department_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Department id"),
            ("name", "TEXT", "TEXT", "NOT NULL", "Department name, e.g. Sales, Finance"),
            ("cost_center", "TEXT", "TEXT", "NOT NULL", "Cost center code, e.g. CC-300"),
        ),
    ),
    "customers": (
        "Customer companies (the same accounts as in the CRM).",
        (
            ("customer_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Customer id"),
            ("customer_key", "TEXT", "TEXT", "NOT NULL UNIQUE", "Stable key shared with the CRM, e.g. acme"),
            ("name", "TEXT", "TEXT", "NOT NULL", "Company name"),
            ("domain", "TEXT", "TEXT", "NOT NULL", "Web domain; matches the CRM company domain"),
            ("industry", "TEXT", "TEXT", "NOT NULL", "Industry"),
            ("region_code", "TEXT", "TEXT", "NOT NULL REFERENCES regions(region_code)", "Sales region"),
            ("city", "TEXT", "TEXT", "NOT NULL", "Headquarters city"),
            ("country", "TEXT", "TEXT", "NOT NULL", "ISO country code"),
            ("employee_count", "INTEGER", "INTEGER", "NOT NULL", "Approximate head count of the customer"),
            ("tier", "TEXT", "TEXT", "NOT NULL", "Account tier: strategic, enterprise or mid-market"),
            (
                "account_owner_id",
                "INTEGER",
                "INTEGER",
                "REFERENCES employees(employee_id)",
                "Employee (account executive) who owns the account",
            ),
        ),
    ),
    "products": (
        "What Larkspur sells: robots and parts (Hardware, Parts), licences (Software), Services.",
        (
            ("product_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Product id"),
            ("sku", "TEXT", "TEXT", "NOT NULL UNIQUE", "Stock keeping unit, e.g. LRK-AMR-100"),
            ("name", "TEXT", "TEXT", "NOT NULL", "Product name"),
            ("category", "TEXT", "TEXT", "NOT NULL", "Hardware, Software, Services or Parts"),
            ("list_price", "REAL", "NUMERIC(12,2)", "NOT NULL", "List price per unit in USD before discounts"),
        ),
    ),
    "employees": (
        "Larkspur employees. salary is restricted: only HR and the CFO may read it.",
        (
            ("employee_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Employee id"),
            ("directory_id", "TEXT", "TEXT", "UNIQUE", "Directory user id (u_...) for people with an account"),
            ("name", "TEXT", "TEXT", "NOT NULL", "Full name"),
            ("email", "TEXT", "TEXT", "NOT NULL", "Work email"),
            ("title", "TEXT", "TEXT", "NOT NULL", "Job title"),
            ("department_id", "INTEGER", "INTEGER", "NOT NULL REFERENCES departments(department_id)", "Department"),
            ("manager_id", "INTEGER", "INTEGER", "REFERENCES employees(employee_id)", "Direct manager"),
            (
                "region_code",
                "TEXT",
                "TEXT",
                "REFERENCES regions(region_code)",
                "Sales region covered (sales staff only)",
            ),
            ("hire_date", "TEXT", "DATE", "NOT NULL", "First day of employment (YYYY-MM-DD)"),
            ("salary", "REAL", "NUMERIC(12,2)", "NOT NULL", "Annual base salary in USD (restricted: HR and CFO)"),
        ),
    ),
    "orders": (
        "Sales orders (one per purchase). Amounts are on order_items.",
        (
            ("order_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Order id"),
            (
                "order_date",
                "TEXT",
                "DATE",
                "NOT NULL",
                "Date the order was booked (YYYY-MM-DD); quarters follow the calendar",
            ),
            ("customer_id", "INTEGER", "INTEGER", "NOT NULL REFERENCES customers(customer_id)", "Buying customer"),
            (
                "region_code",
                "TEXT",
                "TEXT",
                "NOT NULL REFERENCES regions(region_code)",
                "Region the sale is credited to (the customer's region)",
            ),
            (
                "sales_rep_id",
                "INTEGER",
                "INTEGER",
                "REFERENCES employees(employee_id)",
                "Employee credited with the sale",
            ),
            ("status", "TEXT", "TEXT", "NOT NULL", "completed or cancelled; only completed orders count as sales"),
            ("channel", "TEXT", "TEXT", "NOT NULL", "direct or partner"),
        ),
    ),
    "order_items": (
        "Order lines: the fact table for sales. net_amount is what the customer pays for the line.",
        (
            ("order_item_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Order line id"),
            ("order_id", "INTEGER", "INTEGER", "NOT NULL REFERENCES orders(order_id)", "Order"),
            ("product_id", "INTEGER", "INTEGER", "NOT NULL REFERENCES products(product_id)", "Product"),
            ("quantity", "INTEGER", "INTEGER", "NOT NULL", "Units"),
            ("unit_price", "REAL", "NUMERIC(12,2)", "NOT NULL", "Price per unit in USD before discount"),
            ("discount_pct", "REAL", "NUMERIC(5,2)", "NOT NULL", "Discount in percent (0-30)"),
            (
                "net_amount",
                "REAL",
                "NUMERIC(14,2)",
                "NOT NULL",
                "Line revenue in USD after discount = quantity * unit_price * (1 - discount_pct/100); "
                "net sales = sum of net_amount of completed orders minus refunds in returns",
            ),
        ),
    ),
    "returns": (
        "Returned order lines and the money refunded. Subtract refund_amount to get net sales.",
        (
            ("return_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Return id"),
            (
                "order_item_id",
                "INTEGER",
                "INTEGER",
                "NOT NULL UNIQUE REFERENCES order_items(order_item_id)",
                "Returned order line (at most one return per line)",
            ),
            ("return_date", "TEXT", "DATE", "NOT NULL", "Date the return was received (YYYY-MM-DD)"),
            ("quantity", "INTEGER", "INTEGER", "NOT NULL", "Units returned"),
            ("refund_amount", "REAL", "NUMERIC(14,2)", "NOT NULL", "Money refunded in USD"),
            ("reason", "TEXT", "TEXT", "NOT NULL", "Why it was returned"),
        ),
    ),
    "expenses": (
        "Employee expense claims (travel, meals, software, ...), booked to a department.",
        (
            ("expense_id", "INTEGER", "INTEGER", "PRIMARY KEY", "Expense id"),
            ("employee_id", "INTEGER", "INTEGER", "NOT NULL REFERENCES employees(employee_id)", "Who spent it"),
            (
                "department_id",
                "INTEGER",
                "INTEGER",
                "NOT NULL REFERENCES departments(department_id)",
                "Department charged",
            ),
            ("expense_date", "TEXT", "DATE", "NOT NULL", "Date of the expense (YYYY-MM-DD)"),
            ("category", "TEXT", "TEXT", "NOT NULL", "travel, meals, lodging, software, equipment, training or events"),
            ("vendor", "TEXT", "TEXT", "NOT NULL", "Who was paid"),
            ("amount", "REAL", "NUMERIC(12,2)", "NOT NULL", "Amount in USD"),
            ("status", "TEXT", "TEXT", "NOT NULL", "approved, pending or rejected; only approved is spend"),
        ),
    ),
}

# Load order respecting foreign keys (employees before customers and orders).
TABLE_ORDER = ("regions", "departments", "employees", "customers", "products", "orders",
               "order_items", "returns", "expenses")  # fmt: skip


@dataclass(frozen=True)
class WarehouseStats:
    path: str
    seed: int
    rows: Mapping[str, int]

    @property
    def fact_rows(self) -> int:
        return sum(self.rows[t] for t in ("orders", "order_items", "returns", "expenses"))


def ddl(dialect: str) -> list[str]:
    """CREATE TABLE statements (and, for PostgreSQL, COMMENT ON) for ``dialect``."""
    out: list[str] = []
    pg = dialect == "postgres"
    for table in TABLE_ORDER:
        comment, cols = TABLES[table]
        body = ",\n  ".join(f"{c[0]} {c[2] if pg else c[1]} {c[3]}".rstrip() for c in cols)
        out.append(f"CREATE TABLE {table} (\n  {body}\n)")
    out.extend(
        f"CREATE INDEX ix_{t}_{c} ON {t} ({c})"
        for t, c in (("orders", "order_date"), ("orders", "customer_id"), ("order_items", "order_id"),
                     ("order_items", "product_id"), ("expenses", "expense_date"))
    )  # fmt: skip
    if pg:
        for table in TABLE_ORDER:
            comment, cols = TABLES[table]
            out.append(f"COMMENT ON TABLE {table} IS {_quote(comment)}")
            out.extend(f"COMMENT ON COLUMN {table}.{c[0]} IS {_quote(c[4])}" for c in cols)
    return out


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
