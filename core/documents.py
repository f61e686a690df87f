"""Documents people keep (agreements, subject access packs): dates as GOV.UK writes them, and
PDFs in the core fonts. Shared by the domains that produce documents, which sit above `core`
and below the web layer.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import WrapMode, XPos

from core.validation import LOCAL_ZONE


def long_date(value: date | datetime | str | None) -> str:
    """A date as GOV.UK writes it (3 March 2026); a moment as its UK local date."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = (
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            if "T" in value
            else date.fromisoformat(value)
        )
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_ZONE).date()
    return f"{value.day} {value:%B %Y}"


def long_moment(value: datetime | str | None) -> str:
    """A moment in UK local time: 3 March 2026, 18:30."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = value.astimezone(LOCAL_ZONE)
    return f"{local.day} {local:%B %Y, %H:%M}"


#: Typographic marks the core fonts lack, as their plain forms.
_PLAIN = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2022": "*",
    "\u2026": "...",
    "\u2192": "->",
    "\u00a0": " ",
    "\u2009": " ",
    "\u200b": "",
    "\u20ac": "EUR",
    "\u2122": "(TM)",
    # Letters with strokes do not decompose into a base letter and a mark.
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u0131": "i",
}


def latin1(text: Any) -> str:
    """Text the PDF core fonts can draw (they hold Latin-1 only): typographic marks become
    their plain forms, accented letters outside Latin-1 lose their accents, and a run of
    anything else becomes one '?', so no character makes rendering fail."""
    out: list[str] = []
    for char in str(text):
        if char in _PLAIN:
            out.append(_PLAIN[char])
        elif char in "\n\t" or 32 <= ord(char) < 127 or 160 <= ord(char) < 256:
            out.append(char)
        elif ord(char) < 32 or 127 <= ord(char) < 160:
            continue  # control characters draw nothing
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            plain = "".join(
                c for c in decomposed if not unicodedata.combining(c) and ord(c) < 256
            ).strip()
            if plain:
                out.append(plain)
            elif not out or out[-1] != "?":
                out.append("?")
    return "".join(out)


class DocumentPdf(FPDF):
    """A4 portrait, Helvetica, 18 mm margins, `footer_text` and the page number in every footer."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = latin1(footer_text)
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"{self.footer_text} - page {self.page_no()}", align="C")

    def heading(self, text: str, size: int = 14) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", size)
        self.multi_cell(0, size * 0.5, latin1(text), align="L", new_x=XPos.LMARGIN)
        self.ln(1)

    def paragraph(self, text: str, size: int = 10, style: str = "") -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, size * 0.5, latin1(text), align="L", new_x=XPos.LMARGIN)
        self.ln(1)

    def code(self, text: str) -> None:
        self.set_font("Courier", size=8)
        self.multi_cell(0, 4, latin1(text), align="L", new_x=XPos.LMARGIN, wrapmode=WrapMode.CHAR)
        self.ln(1)

    def pairs(self, rows: Iterable[tuple[str, str]]) -> None:
        self.set_font("Helvetica", size=9)
        with self.table(
            col_widths=(55, 119), text_align="LEFT", first_row_as_headings=False
        ) as table:
            for key, value in rows:
                row = table.row()
                row.cell(latin1(key))
                row.cell(latin1(value))
        self.ln(2)

    def grid(self, headings: tuple[str, ...], rows: Iterable[tuple[str, ...]], widths) -> None:
        self.set_font("Helvetica", size=9)
        with self.table(col_widths=widths, text_align="LEFT") as table:
            head = table.row()
            for text in headings:
                head.cell(latin1(text))
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(latin1(value))
        self.ln(2)
