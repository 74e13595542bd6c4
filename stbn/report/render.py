"""Write a table as CSV (numbers, for machines), Markdown and LaTeX (formatted, for people)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from stbn.data.atomic import atomic_output

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "σ": r"$\sigma$",
    "λ": r"$\lambda$",
    "Δ": r"$\Delta$",
    "−": "$-$",
}


@dataclass
class Table:
    """A rendered table: display ``header``/``rows`` (strings) and the numeric ``records`` for the CSV."""

    title: str
    header: list[str]
    rows: list[list[str]]
    records: list[dict[str, object]]
    notes: list[str] = field(default_factory=list)


def _csv_value(value: object) -> object:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: a title line, the pipe table, then the notes."""
    lines = [f"**{table.title}**", "", "| " + " | ".join(table.header) + " |"]
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def tex_escape(text: str) -> str:
    """Escape LaTeX specials; σ, λ, Δ and the minus sign become maths."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    spec = "l" * 3 + "c" * (len(table.header) - 3)
    body = [" & ".join(tex_escape(c) for c in row) + r" \\" for row in table.rows]
    notes = "; ".join(tex_escape(n) for n in table.notes)
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{tex_escape(table.title)}{'. ' + notes if notes else ''}}}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(tex_escape(h) for h in table.header) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )


def write_table(table: Table, prefix: str | Path) -> list[Path]:
    """Write ``prefix.csv``, ``prefix.md`` and ``prefix.tex`` (each atomically); return the paths."""
    prefix = Path(prefix)
    paths = [prefix.with_name(prefix.name + ext) for ext in (".csv", ".md", ".tex")]
    fields = list(dict.fromkeys(k for r in table.records for k in r))
    with atomic_output(paths[0]) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: _csv_value(r.get(k)) for k in fields} for r in table.records)
    for path, text in zip(paths[1:], (to_markdown(table), to_latex(table))):
        with atomic_output(path) as tmp:
            tmp.write_text(text)
    return paths
