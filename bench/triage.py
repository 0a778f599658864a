"""Precision and recall of the triage (智能分拨) on a labelled set of citizens' complaints.

    .venv/bin/python -m bench.triage [--labelled bench/triage_labelled.csv] [--json] [--report FILE]

``bench/triage_labelled.csv`` (text, town, category) holds hand-written complaints in the way
callers speak: towns in full and short forms, villages and landmarks, no place at all, phrasings
the pack's phrase list does not hold, and matters the city's categories fit badly. ``town`` is the
division's official name as the pack spells it (empty: the text names no place).

Category: precision = right / suggested, recall = right / labelled, per category and over all
(micro); macro = the mean over categories. Division: the same, counting a suggestion for a text
that names no place as a wrong one. A quality figure, not a timing: it is not run as a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

from ioc import PROJECT_ROOT
from ioc.city import triage
from ioc.city.pack import load_pack

HERE = Path(__file__).resolve().parent


def measure(rows: list[dict[str, str]], reader: triage.Triage) -> dict:
    codes = {zh: code for code, (zh, _en) in reader.names.items()}
    unknown = sorted({r["town"] for r in rows if r["town"] and r["town"] not in codes})
    if unknown:
        raise SystemExit(f"labelled towns that are no division of the pack: {', '.join(unknown)}")
    suggested, labelled, right = Counter(), Counter(), Counter()
    place = Counter()
    misses = []
    for r in rows:
        s = reader.suggest(r["text"])
        gold_div = codes.get(r["town"]) if r["town"] else None
        labelled[r["category"]] += 1
        if s.category:
            suggested[s.category] += 1
            right[s.category] += s.category == r["category"]
        place["labelled"] += gold_div is not None
        place["suggested"] += s.division is not None
        place["right"] += s.division is not None and s.division == gold_div
        if s.category != r["category"] or s.division != gold_div:
            misses.append({"text": r["text"], "want": [r["town"], r["category"]],
                           "got": [reader.names.get(s.division or "", ("", ""))[0], s.category]})
    per = {c: {"labelled": labelled[c], "suggested": suggested[c], "right": right[c],
               "precision": _ratio(right[c], suggested[c]), "recall": _ratio(right[c], labelled[c])}
           for c in sorted(labelled)}
    total_right = sum(right.values())
    return {
        "rows": len(rows),
        "category": {"precision": _ratio(total_right, sum(suggested.values())),
                     "recall": _ratio(total_right, len(rows)),
                     "macro_precision": _mean(p["precision"] for p in per.values()),
                     "macro_recall": _mean(p["recall"] for p in per.values()),
                     "coverage": _ratio(sum(suggested.values()), len(rows))},
        "division": {"precision": _ratio(place["right"], place["suggested"]),
                     "recall": _ratio(place["right"], place["labelled"]),
                     "labelled": place["labelled"], "suggested": place["suggested"], "right": place["right"]},
        "per_category": per,
        "misses": misses,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 3) if values else None


def report_text(result: dict) -> str:
    c, d = result["category"], result["division"]
    lines = [f"# Triage on {result['rows']} labelled complaints", "",
             f"- category: precision {c['precision']:.1%}, recall {c['recall']:.1%} "
             f"(macro {c['macro_precision']:.1%} / {c['macro_recall']:.1%}); a category suggested for "
             f"{c['coverage']:.1%} of the texts",
             f"- division: precision {d['precision']:.1%}, recall {d['recall']:.1%} "
             f"({d['right']} right of {d['suggested']} suggested, {d['labelled']} texts name a place)", "",
             "| category | labelled | suggested | right | precision | recall |", "|---|---:|---:|---:|---:|---:|"]
    for name, p in result["per_category"].items():
        pr = "–" if p["precision"] is None else f"{p['precision']:.0%}"
        lines.append(f"| {name} | {p['labelled']} | {p['suggested']} | {p['right']} | {pr} | {p['recall']:.0%} |")
    lines += ["", f"## Misses ({len(result['misses'])})", ""]
    lines += [f"- {m['text']} — wanted {m['want'][0] or '–'} / {m['want'][1]}, got {m['got'][0] or '–'} / "
              f"{m['got'][1] or '–'}" for m in result["misses"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.triage", description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, default=HERE / "triage_labelled.csv")
    parser.add_argument("--pack", type=Path, default=PROJECT_ROOT / "geodata" / "dongguan")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--report", type=Path, help="write the report (Markdown) here")
    args = parser.parse_args(argv)
    with args.labelled.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    result = measure(rows, triage.for_pack(load_pack(args.pack)))
    if args.report:
        args.report.write_text(report_text(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        c, d = result["category"], result["division"]
        print(f"triage on {result['rows']} texts: category precision {c['precision']:.1%} recall {c['recall']:.1%}; "
              f"division precision {d['precision']:.1%} recall {d['recall']:.1%}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
