"""Write the lever and parameter tables of docs/scenarios.md from the declaration.

    .venv/bin/python scripts/param_table.py           # rewrite the tables between the markers
    .venv/bin/python scripts/param_table.py --check   # exit 1 if the committed tables are stale

The tables come from ``model.params.markdown_tables()`` (one row per entry of
``model.params.DECLARED``); everything between ``BEGIN`` and ``END`` is replaced.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.params import markdown_tables  # noqa: E402

DOC = ROOT / "docs" / "scenarios.md"
BEGIN = "<!-- BEGIN declared parameters: written by scripts/param_table.py from model/params.py; do not edit -->"
END = "<!-- END declared parameters -->"


def render(text: str, tables: str) -> str:
    """``text`` with the part between the markers replaced by ``tables``."""
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{DOC}: markers {BEGIN!r} and {END!r} not found")
    return f"{head}{BEGIN}\n\n{tables}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = render(text, markdown_tables())
    if "--check" in argv:
        if new != text:
            print(f"{DOC}: parameter tables are stale; run scripts/param_table.py")
            return 1
        print(f"{DOC}: parameter tables are current")
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        print(f"{DOC}: parameter tables rewritten")
    else:
        print(f"{DOC}: parameter tables already current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
