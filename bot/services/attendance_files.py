"""The files attendance produces: a member's PDF statement and the leaders' grid chart,
and reading a statement back to check it.

fpdf2, pypdf and matplotlib are imported only here and only when a file is used: most
processes never draw, and the import alone costs more than a command's 3 seconds on a
slow host. Both functions are CPU work; callers run them in a worker thread
(`asyncio.to_thread`) so the event loop keeps answering Discord meanwhile. The
statement's text comes from `Statement` alone: it holds no case, label or follow-up.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.domain.attendance import (
    AttendanceError,
    Statement,
    StatementLine,
    Status,
    normalise_code,
    parse_scheme,
)

# Colours by status: readable for the common colour-blindnesses (blue/orange, not red/green).
STATUS_COLOURS: dict[Status, str] = {
    Status.PRESENT: "#1f6fb4",
    Status.LATE: "#f0a030",
    Status.LEFT_EARLY: "#f7d080",
    Status.APOLOGIES: "#b9b9d6",
    Status.ABSENT: "#eeeeee",
}
CHART_DPI = 100
ROW_HEIGHT = 5.5
MAX_DATE_LABELS = 13
# A statement of many years is a few hundred kilobytes; anything far bigger is not ours.
MAX_STATEMENT_BYTES = 2_000_000
_ROW = re.compile(
    r"^(\d{4}-\d{2}-\d{2}) (\d++) (present|late|left early|apologies|absent)"
    r"( \(corrected\))? (?:-|[\d.]++ h|counts)$"
)


def _font_file() -> Path:
    """DejaVu Sans, shipped with matplotlib: covers the accents and scripts of names that
    the PDF core fonts (Latin-1 only) cannot print."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def statement_pdf(
    statement: Statement, leaders: Sequence[str], code: str, issued: date
) -> bytes:
    """The statement a member hands to their college, as a PDF."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title("Attendance statement")
    pdf.set_creator("balint-bot")
    pdf.add_font("DejaVu", "", str(_font_file()))
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("DejaVu", size=16)
    pdf.cell(0, 10, "Attendance statement: Balint group", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", size=10)
    facts = [
        ("Member", statement.member_name),
        ("Group", statement.group_name),
        ("Leader(s)", ", ".join(leaders) or "-"),
        (
            "Period",
            f"{statement.first_day.isoformat()} to {statement.last_day.isoformat()}",
        ),
        ("Credit scheme", statement.scheme.text()),
    ]
    for label, value in facts:
        pdf.cell(35, 6, f"{label}:")
        pdf.multi_cell(0, 6, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    # Rows are placed with `text`, not `cell`: two years of weekly meetings is hundreds of
    # rows, and cell's line-breaking machinery would take most of the time budget.
    columns = (0, 35, 60, 110)
    left = pdf.l_margin
    pdf.set_fill_color(230, 230, 230)
    pdf.cell(0, 6, "", border="B", fill=True)
    for offset, title in zip(columns, ("Date", "Minutes", "Attendance", "Credit"), strict=True):
        pdf.text(left + offset + 1, pdf.y + 4.3, title)
    pdf.ln(6)
    for line in statement.lines:
        if pdf.y + ROW_HEIGHT > pdf.page_break_trigger:
            pdf.add_page()
        status = line.status.value + (" (corrected)" if line.corrected else "")
        cells = (line.day.isoformat(), str(line.minutes), status, statement.line_credit(line))
        for offset, text in zip(columns, cells, strict=True):
            pdf.text(left + offset + 1, pdf.y + 4, text)
        pdf.ln(ROW_HEIGHT)
    pdf.ln(3)
    pdf.cell(
        0,
        6,
        f"Total: {len(statement.lines)} meetings, {statement.attended} attended, "
        f"{statement.total_minutes} minutes",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    for text in statement.credit():
        pdf.cell(0, 6, f"Credit: {text}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("DejaVu", size=9)
    pdf.multi_cell(
        0,
        5,
        "Minutes are those spent in the meeting's voice room between its start and end, "
        "measured by balint-bot; a leader's correction is marked. "
        f"Issued {issued.isoformat()}.\n"
        f"Verification code: {code}\n"
        "A leader or the college can check it with /attendance verify in the group's "
        "Discord server: it says whether this statement matches the records.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    return bytes(pdf.output())


def read_statement_pdf(data: bytes) -> tuple[Statement, str]:
    """The statement and code a PDF shows, read from its text as a reader sees it; refused
    if its totals or credit are not the ones its rows give (an edit there shows too)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    unreadable = AttendanceError("This file is not a balint-bot attendance statement.")
    if len(data) > MAX_STATEMENT_BYTES:
        raise unreadable
    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n".join(page.extract_text() for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError):
        raise unreadable from None
    lines = [" ".join(line.split()) for line in text.splitlines()]
    facts: dict[str, str] = {}
    rows: list[StatementLine] = []
    for line in lines:
        if row := _ROW.match(line):
            rows.append(
                StatementLine(
                    date.fromisoformat(row[1]), int(row[2]), Status(row[3]), bool(row[4])
                )
            )
        elif ": " in line:
            label, _, value = line.partition(": ")
            facts.setdefault(label, value)
    try:
        first, _, last = facts["Period"].partition(" to ")
        statement = Statement(
            facts["Member"],
            facts["Group"],
            date.fromisoformat(first),
            date.fromisoformat(last),
            tuple(rows),
            parse_scheme(facts["Credit scheme"]),
        )
        code = normalise_code(facts["Verification code"])
    except (KeyError, ValueError):
        raise unreadable from None
    derived = [
        f"Total: {len(rows)} meetings, {statement.attended} attended, "
        f"{statement.total_minutes} minutes",
        *(f"Credit: {credit}" for credit in statement.credit()),
    ]
    if code is None or any(line not in lines for line in derived):
        raise unreadable
    return statement, code


def grid_png(
    members: Sequence[str], days: Sequence[date], statuses: Sequence[Sequence[Status]]
) -> bytes:
    """Members down, meetings across, one coloured square each, with a legend: large
    squares and text so it reads on a phone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    order = list(STATUS_COLOURS)
    values = [[order.index(status) for status in row] for row in statuses]
    width = min(4 + 0.28 * len(days), 20)
    height = 2.2 + 0.42 * len(members)
    # Margins from the label lengths, not a layout engine: constrained layout measures
    # every tick label twice and would double the drawing time.
    left = 0.3 + 0.085 * max((len(name) for name in members), default=1)
    figure = Figure(figsize=(width + left, height), dpi=CHART_DPI)
    figure.subplots_adjust(
        left=left / (width + left), right=0.98, top=1 - 0.9 / height, bottom=1.0 / height
    )
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.pcolormesh(
        values,
        cmap=ListedColormap(list(STATUS_COLOURS.values())),
        vmin=-0.5,
        vmax=len(order) - 0.5,
        edgecolors="white",
        linewidth=1.5,
    )
    axes.invert_yaxis()
    axes.set_yticks([i + 0.5 for i in range(len(members))], list(members), fontsize=11)
    # About a dozen dates: more would be unreadable on a phone, and each costs drawing time.
    step = max(1, -(-len(days) // MAX_DATE_LABELS))
    shown = range(0, len(days), step)
    axes.set_xticks(
        [i + 0.5 for i in shown], [days[i].strftime("%d %b %y") for i in shown], fontsize=9,
        rotation=60, ha="right",
    )
    axes.tick_params(length=0)
    for side in axes.spines.values():
        side.set_visible(False)
    figure.legend(
        handles=[Patch(color=colour, label=status.value) for status, colour in
                 STATUS_COLOURS.items()],
        loc="upper center",
        ncols=len(order),
        fontsize=10,
        frameon=False,
    )
    out = io.BytesIO()
    # Flat colours compress well even at zlib's fastest level, which halves encoding time.
    figure.savefig(out, format="png", dpi=CHART_DPI, pil_kwargs={"compress_level": 1})
    return out.getvalue()
