# ruff: noqa: RUF001, RUF003 - the table's × and – are meant
"""bench/results/<date>.json (everything measured) and .md (the table:
each figure next to its limit, the ratio first)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    measure: str
    ratio: float | None
    ratio_is: str  # what the ratio divides
    figure: str
    limit: str
    target: str
    met: bool | None
    note: str = ""


def ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def fmt_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.2f}×"


def verdict(met: bool | None) -> str:
    return {True: "✅ met", False: "❌ missed", None: "–"}[met]  # – : reference, or inconclusive (see the note)


def markdown(title: str, meta: dict[str, Any], rows: list[Row], notes: list[str]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += ["", "| ratio | measure | figure | limit, same run | target | verdict |",
              "|---:|---|---|---|---|---|"]
    for row in rows:
        ratio = f"**{fmt_ratio(row.ratio)}** {row.ratio_is}" if row.ratio_is else f"**{fmt_ratio(row.ratio)}**"
        measure_text = row.measure + (f" — {row.note}" if row.note else "")
        lines.append(f"| {ratio} | {measure_text} | {row.figure} | {row.limit} | {row.target} | {verdict(row.met)} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write(name: str, *, title: str, meta: dict[str, Any], rows: list[Row], raw: dict[str, Any],
          notes: list[str]) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    md_path = RESULTS / f"{name}.md"
    json_path.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows], "raw": raw,
                                     "notes": notes}, indent=2, default=str, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(title, meta, rows, notes))
    return json_path, md_path
