"""Deterministic rows for the demo warehouse: the same ``seed`` and ``scale`` give the same rows."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from datetime import date, timedelta
from typing import Any, Protocol

from connectors.demo.company import CUSTOMERS, PRODUCTS, REGIONS
from connectors.demo.warehouse_gen.schema import END, START, TABLE_ORDER

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


class Person(Protocol):
    """One person of the company directory (``policies.directory.Principal`` fits): the caller
    passes the directory in, so this connector reads no policy file."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def manager(self) -> str | None: ...
    @property
    def roles(self) -> Collection[str]: ...


def generate_data(*, people: Iterable[Person], seed: int = 7, scale: float = 1.0) -> dict[str, list[tuple[Any, ...]]]:
    """All rows, per table, in :data:`TABLE_ORDER`. ``people`` (the company directory) become
    the first employees, in order; ``scale`` shrinks the fact tables for tests."""
    rng = random.Random(seed)
    data: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLE_ORDER}
    data["regions"] = [(code, name) for code, name in REGIONS]
    dept_ids = {name: i for i, (name, _) in enumerate(_DEPARTMENTS, start=1)}
    data["departments"] = [(i, name, cc) for i, (name, cc) in enumerate(_DEPARTMENTS, start=1)]

    # Employees: directory people first (ids 1..N), then generated staff.
    employees: list[tuple[Any, ...]] = []
    emp_by_dir: dict[str, int] = {}
    people = list(people)
    for i, p in enumerate(people, start=1):
        emp_by_dir[p.id] = i
    for i, p in enumerate(people, start=1):
        dept = p.department or "Operations"
        title = p.title or "Staff"
        band = next((v for k, v in _TITLE_SALARY.items() if k in title), 105000)
        if "contractor" in p.roles:
            band = 90000
        region = None
        if dept == "Sales":
            region = next((code for code, owners in _REP_REGIONS.items() if p.id in owners), None)
        employees.append((
            i, p.id, p.name, p.email, title, dept_ids.get(dept, dept_ids["Operations"]),
            emp_by_dir.get(p.manager or ""), region,
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
