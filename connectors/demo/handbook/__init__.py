"""The Larkspur Systems handbook: the demo knowledge base.

Markdown, text and HTML documents live in this folder. One PDF (the robot site safety guide) is
written from :data:`SITE_SAFETY_GUIDE` at seed time by :mod:`connectors.demo.pdf` (milliseconds;
matplotlib took over a second), deterministically, so no binary file is versioned.
:func:`materialize` writes the complete handbook to a folder for ``chamberlain docs ingest`` /
``chamberlain seed``.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

HANDBOOK_DIR = Path(__file__).resolve().parent
SITE_SAFETY_PDF = "robot-site-safety-guide.pdf"
SITE_SAFETY_TITLE = "Robot site safety guide"

# Numbered lines ("2. Charging and batteries") become sections when the PDF is ingested.
SITE_SAFETY_GUIDE: tuple[tuple[str, str], ...] = (
    (
        "1. Scope",
        "This guide applies to everyone who works near Larkspur robots: employees, contractors and "
        "visitors at customer sites and in the Boston test warehouse. Customers receive it at "
        "commissioning.",
    ),
    (
        "2. Robot zones and speed limits",
        "Robots slow down to 0.3 metres per second within 2 metres of a person and stop at 0.5 "
        "metres. Keep aisles clear: the AMR-300 needs aisles at least 1.8 metres wide. Never ride "
        "on a robot or its payload. Walk only in marked pedestrian lanes inside robot zones.",
    ),
    (
        "3. Emergency stop",
        "Every robot has red emergency stop buttons on both sides, and every Pick Arm station has "
        "one on its control panel. Press an emergency stop when a person, object or robot is in "
        "danger. Only a trained operator may reset an emergency stop, after checking the cause.",
    ),
    (
        "4. Charging and batteries",
        "Charge robots only on Larkspur charging docks. Do not open battery packs. A battery that "
        "is swollen, hot or smells of solvent must be moved outdoors by trained staff and reported "
        "to support as a critical issue.",
    ),
    (
        "5. Maintenance and lockout",
        "Before maintenance, switch the robot to maintenance mode in Fleet Manager and apply a "
        "lockout tag to the main power switch. Wear safety shoes and gloves. Replace LiDAR units "
        "and drive wheels only with genuine Larkspur spare parts.",
    ),
    (
        "6. Reporting incidents",
        "Report every collision, near miss or injury within 24 hours to the site safety lead and "
        "to Larkspur support. Keep the robot's logs: do not restart it until support has collected "
        "them.",
    ),
)


def write_site_safety_pdf(path: Path) -> Path:
    """Render the site safety guide as a two-page A4 PDF with extractable text (deterministic)."""
    from connectors.demo.pdf import Line, write_text_pdf

    pages: list[list[Line]] = []
    for number, sections in enumerate((SITE_SAFETY_GUIDE[:3], SITE_SAFETY_GUIDE[3:]), start=1):
        lines: list[Line] = []
        y = 0.94
        if number == 1:
            lines.append(Line(SITE_SAFETY_TITLE, y, 18, "bold"))
            y -= 0.05
        for heading, body in sections:
            lines.append(Line(heading, y, 13, "bold"))
            y -= 0.03
            for text in textwrap.wrap(body, 88):
                lines.append(Line(text, y))
                y -= 0.022
            y -= 0.025
        pages.append(lines)
    return write_text_pdf(path, pages, title=SITE_SAFETY_TITLE)


def materialize(dest: str | Path) -> Path:
    """Copy the handbook to ``dest`` and render its PDF there; returns ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted(HANDBOOK_DIR.iterdir()):
        if src.suffix in (".md", ".txt", ".html"):
            target = dest / src.name
            if not target.exists() or target.read_bytes() != src.read_bytes():
                shutil.copyfile(src, target)
    pdf = dest / SITE_SAFETY_PDF
    if not pdf.exists():
        write_site_safety_pdf(pdf)
    return dest


__all__ = ["HANDBOOK_DIR", "SITE_SAFETY_GUIDE", "SITE_SAFETY_PDF", "materialize", "write_site_safety_pdf"]
