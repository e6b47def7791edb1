"""The demo warehouse: three years (2023–2025) of Larkspur Systems sales, returns and expenses.

Deterministic: the same ``seed`` and ``scale`` give the same rows, so tests and evals can rely
on exact numbers. Customers, products and regions come from :mod:`connectors.demo.company`
(the same "Acme Corporation" as in the CRM); employees are the people of the directory file
plus generated staff. Writes a SQLite file (:func:`generate_warehouse`) or loads a PostgreSQL
database (:func:`load_postgres`). Run ``python -m connectors.demo.warehouse_gen PATH``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from connectors.demo.company import CUSTOMERS, PRODUCTS, REGIONS

DIRECTORY_FILE = Path(__file__).resolve().parents[2] / "policies" / "directory.yaml"
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


# --------------------------------------------------------------------------------------------
# Data


_DEPARTMENTS = (
    ("Executive", "CC-100"), ("Finance", "CC-200"), ("Sales", "CC-300"), ("Operations", "CC-400"),
    ("People", "CC-500"), ("Engineering", "CC-600"), ("IT", "CC-620"), ("Customer Success", "CC-700"),
    ("Manufacturing", "CC-800"),
)  # fmt: skip
_FIRST = ("Ava", "Liam", "Noah", "Emma", "Mia", "Lucas", "Zoe", "Ethan", "Nora", "Leo", "Ines", "Yuki",
          "Arjun", "Sara", "Mateo", "Lena", "Omar", "Chloe", "Kai", "Maya", "Jonas", "Aisha", "Felix",
          "Rosa", "Hugo", "Ivy", "Tariq", "Elena", "Sven", "Priyanka")  # fmt: skip
_LAST = ("Garcia", "Smith", "Muller", "Rossi", "Tanaka", "Okafor", "Silva", "Novak", "Jensen", "Kowalski",
         "Haddad", "Dubois", "Larsen", "Moreau", "Nguyen", "Kim", "Costa", "Fischer", "Ali", "Brown")  # fmt: skip
_STAFF_TITLES = {
    "Sales": (("Account Executive", 95000), ("Sales Development Rep", 62000), ("Sales Engineer", 118000)),
    "Engineering": (("Software Engineer", 135000), ("Robotics Engineer", 128000), ("QA Engineer", 98000)),
    "Operations": (("Logistics Coordinator", 61000), ("Field Technician", 72000)),
    "Customer Success": (("Customer Success Manager", 88000), ("Support Specialist", 58000)),
    "Manufacturing": (("Assembly Technician", 52000), ("Production Planner", 70000)),
    "Finance": (("Financial Analyst", 86000), ("Payroll Specialist", 64000)),
    "People": (("Recruiter", 72000),),
    "IT": (("Systems Administrator", 90000),),
}
_TITLE_SALARY = {"Chief": 260000, "VP": 210000, "Director": 175000, "Manager": 140000, "Lead": 120000}
_EXPENSE_CATS = (("travel", 900.0), ("meals", 85.0), ("lodging", 420.0), ("software", 1200.0),
                 ("equipment", 1600.0), ("training", 750.0), ("events", 2400.0))  # fmt: skip
_VENDORS = {
    "travel": ("United Airlines", "Lufthansa", "Delta", "Amtrak", "Uber"),
    "meals": ("Blue Bottle", "Local Bistro", "DoorDash", "Sushi Zen"),
    "lodging": ("Marriott", "Hilton", "Premier Inn", "Hyatt"),
    "software": ("Figma", "GitHub", "Atlassian", "JetBrains", "Slack"),
    "equipment": ("Dell", "Apple", "B&H Photo", "Grainger"),
    "training": ("Coursera", "O'Reilly", "Safety Council"),
    "events": ("ProMat Expo", "LogiMAT", "Modex"),
}
_RETURN_REASONS = ("damaged in transit", "wrong item shipped", "customer changed plans",
                   "defective unit", "duplicate order")  # fmt: skip
_PRODUCT_WEIGHT = {"Hardware": 3.0, "Software": 2.0, "Services": 2.5, "Parts": 4.0}
_TIER_ORDERS = {"strategic": 3.0, "enterprise": 2.0, "mid-market": 1.0}
_TIER_DISCOUNT = {"strategic": (8, 25), "enterprise": (4, 15), "mid-market": (0, 8)}


def _directory_people(path: Path) -> list[dict[str, Any]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [p for p in raw.get("people", []) if isinstance(p, dict)]


def generate_data(
    *, seed: int = 7, scale: float = 1.0, directory_file: Path = DIRECTORY_FILE
) -> dict[str, list[tuple[Any, ...]]]:
    """All rows, per table, in :data:`TABLE_ORDER`. ``scale`` shrinks the fact tables for tests."""
    rng = random.Random(seed)
    data: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLE_ORDER}
    data["regions"] = [(code, name) for code, name in REGIONS]
    dept_ids = {name: i for i, (name, _) in enumerate(_DEPARTMENTS, start=1)}
    data["departments"] = [(i, name, cc) for i, (name, cc) in enumerate(_DEPARTMENTS, start=1)]

    # Employees: directory people first (ids 1..N), then generated staff.
    employees: list[tuple[Any, ...]] = []
    emp_by_dir: dict[str, int] = {}
    people = _directory_people(directory_file)
    for i, p in enumerate(people, start=1):
        emp_by_dir[str(p["id"])] = i
    for i, p in enumerate(people, start=1):
        dept = str(p.get("department") or "Operations")
        title = str(p.get("title") or "Staff")
        band = next((v for k, v in _TITLE_SALARY.items() if k in title), 105000)
        if "contractor" in (p.get("roles") or []):
            band = 90000
        region = None
        if dept == "Sales":
            region = next((code for code, owners in _REP_REGIONS.items() if p["id"] in owners), None)
        employees.append((
            i, str(p["id"]), str(p["name"]), str(p["email"]), title, dept_ids.get(dept, dept_ids["Operations"]),
            emp_by_dir.get(str(p.get("manager") or "")), region,
            (START - timedelta(days=rng.randint(200, 3000))).isoformat(),
            float(round(band * rng.uniform(0.92, 1.12), -2)),
        ))  # fmt: skip
    managers = {"Sales": emp_by_dir.get("u_sofia"), "Engineering": emp_by_dir.get("u_tom"),
                "Finance": emp_by_dir.get("u_dana"), "People": emp_by_dir.get("u_hannah"),
                "IT": emp_by_dir.get("u_ken"), "Operations": emp_by_dir.get("u_omar"),
                "Customer Success": emp_by_dir.get("u_sofia"), "Manufacturing": emp_by_dir.get("u_omar")}  # fmt: skip
    next_id = len(employees) + 1
    region_codes = [c for c, _ in REGIONS]
    for dept, titles in _STAFF_TITLES.items():
        n = {"Sales": 30, "Engineering": 40, "Manufacturing": 35, "Customer Success": 20}.get(dept, 10)
        for _ in range(n):
            title, base = rng.choice(titles)
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            employees.append((
                next_id, None, f"{first} {last}", f"{first}.{last}{next_id}@larkspur.example".lower(), title,
                dept_ids[dept], managers[dept], rng.choice(region_codes) if dept == "Sales" else None,
                (START + timedelta(days=rng.randint(-2500, 900))).isoformat(),
                float(round(base * rng.uniform(0.85, 1.2), -2)),
            ))  # fmt: skip
            next_id += 1
    data["employees"] = employees
    reps_by_region: dict[str, list[int]] = {c: [] for c in region_codes}
    for e in employees:
        if e[7] is not None:
            reps_by_region[e[7]].append(e[0])

    data["customers"] = [
        (i, c.key, c.name, c.domain, c.industry, c.region, c.city, c.country, c.employees, c.tier,
         emp_by_dir.get(c.owner))
        for i, c in enumerate(CUSTOMERS, start=1)
    ]  # fmt: skip
    data["products"] = [(i, sku, name, cat, price) for i, (sku, name, cat, price) in enumerate(PRODUCTS, start=1)]

    # Orders and lines: daily volume grows ~18%/year, Q4 is busiest, weekends are quiet.
    cust_weights = [_TIER_ORDERS[c.tier] for c in CUSTOMERS]
    prod_weights = [_PRODUCT_WEIGHT[p[2]] for p in PRODUCTS]
    orders, items, returns = data["orders"], data["order_items"], data["returns"]
    order_id = item_id = return_id = 0
    day = START
    while day <= END:
        years = (day - START).days / 365.0
        base = 36.0 * (1.18**years) * (1.35 if day.month >= 10 else 0.9 if day.month <= 2 else 1.0)
        if day.weekday() >= 5:
            base *= 0.25
        n_orders = max(0, round(rng.gauss(base * scale, (base * scale) ** 0.5)))
        for _ in range(n_orders):
            order_id += 1
            ci = rng.choices(range(len(CUSTOMERS)), cust_weights)[0]
            cust = CUSTOMERS[ci]
            status = "cancelled" if rng.random() < 0.04 else "completed"
            owner = emp_by_dir.get(cust.owner)
            rep = (
                owner
                if rng.random() < 0.7 or not reps_by_region[cust.region]
                else rng.choice(reps_by_region[cust.region])
            )
            orders.append((order_id, day.isoformat(), ci + 1, cust.region, rep, status,
                           "partner" if rng.random() < 0.22 else "direct"))  # fmt: skip
            lo, hi = _TIER_DISCOUNT[cust.tier]
            for _ in range(rng.choices((1, 2, 3, 4, 5), (4, 4, 3, 2, 1))[0]):
                item_id += 1
                pi = rng.choices(range(len(PRODUCTS)), prod_weights)[0]
                _, _, cat, price = PRODUCTS[pi]
                qty = rng.randint(1, 3) if cat in ("Hardware", "Software") else rng.randint(1, 12)
                unit = round(price * rng.uniform(0.97, 1.03), 2)
                disc = float(rng.randint(lo, hi))
                net = round(qty * unit * (1 - disc / 100), 2)
                items.append((item_id, order_id, pi + 1, qty, unit, disc, net))
                if status == "completed" and rng.random() < 0.035:
                    return_id += 1
                    rq = rng.randint(1, qty)
                    back = min(day + timedelta(days=rng.randint(3, 45)), END)
                    returns.append((return_id, item_id, back.isoformat(), rq, round(net * rq / qty, 2),
                                    rng.choice(_RETURN_REASONS)))  # fmt: skip
        day += timedelta(days=1)

    # Expenses: every employee files a few claims a month.
    expenses = data["expenses"]
    expense_id = 0
    months = [(y, m) for y in range(START.year, END.year + 1) for m in range(1, 13)]
    for e in employees:
        per_month = 1.6 if e[5] == dept_ids["Sales"] else 0.7
        for y, m in months:
            for _ in range(_poisson(rng, per_month * scale)):
                expense_id += 1
                cat, avg = rng.choice(_EXPENSE_CATS)
                d = date(y, m, rng.randint(1, 28))
                r = rng.random()
                expenses.append((expense_id, e[0], e[5], d.isoformat(), cat, rng.choice(_VENDORS[cat]),
                                 round(avg * rng.lognormvariate(0, 0.45), 2),
                                 "approved" if r < 0.9 else "pending" if r < 0.96 else "rejected"))  # fmt: skip
    return data


_REP_REGIONS: dict[str, tuple[str, ...]] = {
    "NA-W": ("u_alice", "u_bob", "u_raj"),
    "NA-E": ("u_devon", "u_carmen"),
}


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth; lam is small here.
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# --------------------------------------------------------------------------------------------
# Writers


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


def _insert_sql(table: str, placeholder: str) -> str:
    cols = [c[0] for c in TABLES[table][1]]
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([placeholder] * len(cols))})"


def generate_warehouse(
    path: str | Path,
    *,
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
    directory_file: Path = DIRECTORY_FILE,
) -> WarehouseStats:
    """Write the demo warehouse to a SQLite file at ``path`` (replaced atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = generate_data(seed=seed, scale=scale, directory_file=directory_file)
    total = sum(len(v) for v in data.values())
    fd, tmp = tempfile.mkstemp(prefix=".warehouse-", suffix=".sqlite", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            with con:
                for stmt in ddl("sqlite"):
                    con.execute(stmt)
                con.execute(
                    "CREATE TABLE _column_comments (table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
                    " comment TEXT NOT NULL, PRIMARY KEY (table_name, column_name))"
                )
                con.executemany(
                    "INSERT INTO _column_comments VALUES (?, ?, ?)",
                    [(t, "", TABLES[t][0]) for t in TABLE_ORDER]
                    + [(t, c[0], c[4]) for t in TABLE_ORDER for c in TABLES[t][1]],
                )
                done = 0
                for table in TABLE_ORDER:
                    rows = data[table]
                    for chunk in _chunks(rows, 20000):
                        con.executemany(_insert_sql(table, "?"), chunk)
                        done += len(chunk)
                        if progress:
                            progress(table, done, total)
            con.execute("ANALYZE")
        finally:
            con.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return WarehouseStats(str(path), seed, {t: len(data[t]) for t in TABLE_ORDER})


def load_postgres(
    url: str,
    *,
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
    directory_file: Path = DIRECTORY_FILE,
) -> WarehouseStats:
    """Create the demo tables in the (empty) PostgreSQL database at ``url`` and load them (COPY)."""
    import psycopg  # local: only this path needs the driver

    data = generate_data(seed=seed, scale=scale, directory_file=directory_file)
    total = sum(len(v) for v in data.values())
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        for stmt in ddl("postgres"):
            cur.execute(stmt)  # our own DDL, not user input
        done = 0
        for table in TABLE_ORDER:
            cols = ", ".join(c[0] for c in TABLES[table][1])
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in data[table]:
                    copy.write_row(row)
            done += len(data[table])
            if progress:
                progress(table, done, total)
        cur.execute("ANALYZE")
    return WarehouseStats(url, seed, {t: len(data[t]) for t in TABLE_ORDER})


def _chunks(rows: Sequence[tuple[Any, ...]], size: int) -> Iterable[Sequence[tuple[Any, ...]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from rich.progress import Progress as Bar

    parser = argparse.ArgumentParser(description="Write the Larkspur demo warehouse (SQLite).")
    parser.add_argument("path", help="SQLite file to write")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with Bar() as bar:
        task = bar.add_task("generating warehouse", total=None)

        def report(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"loading {step}")

        stats = generate_warehouse(args.path, seed=args.seed, progress=report)
    print(f"{stats.path}: " + ", ".join(f"{t} {n:,}" for t, n in stats.rows.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "TABLES",
    "TABLE_ORDER",
    "WarehouseStats",
    "ddl",
    "generate_data",
    "generate_warehouse",
    "load_postgres",
]
