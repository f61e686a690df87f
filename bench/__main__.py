"""`python -m bench [suite ...]`: run benchmarks and write bench/RESULTS.md."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.common import machine

SUITES = {
    "audit": "bench.audit_bench",
    "audit-index": "bench.audit_index_bench",
    "search": "bench.search_bench",
    "import": "bench.import_bench",
    "api": "bench.api_bench",
    "sharing": "bench.sharing_bench",
    "faults": "bench.faults_bench",
    "quality": "bench.quality_bench",
}


def main(argv: list[str]) -> int:
    """Run the named suites (default: all) and write the results file."""
    import importlib

    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
        return 2
    sections = []
    for name in names:
        print(f"== {name}", flush=True)
        sections.append(importlib.import_module(SUITES[name]).run())
    out = Path(__file__).with_name("RESULTS.md")
    kept = _existing_sections(out)
    measured = machine()
    for section in sections:
        kept[section.title] = f"Measured on {measured}.\n\n" + section.markdown().split("\n", 1)[1]
    text = "# Benchmark results\n\nRun with `make bench` (all suites) or `python -m bench SUITE`;"
    text += " each section says where and when it was measured.\n\n"
    # Each kept section exactly as it was (joining with a newline used to add a blank line to
    # every section on every run), with at least a blank line before the next one.
    for n, (title, body) in enumerate(kept.items()):
        body = body.lstrip()
        if n < len(kept) - 1 and not body.endswith("\n\n"):
            body = body.rstrip("\n") + "\n\n"
        text += f"## {title}\n{body}"
    out.write_text(text)
    print(f"wrote {out}")
    failed = [r.name for s in sections for r in s.results if r.passed is False]
    if failed:
        print("below target: " + "; ".join(failed))
    return 0


def _existing_sections(path: Path) -> dict[str, str]:
    """Sections of an earlier results file by title, so one suite's run keeps the others."""
    if not path.exists():
        return {}
    sections: dict[str, str] = {}
    title = None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("## "):
            title = line[3:].strip()
            sections[title] = ""
        elif title is not None:
            sections[title] += line
    return sections


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
