"""bench/common.write_section: a benchmark's --write replaces its generated table and keeps the
hand-written ### subsections (earlier runs, their logs and conclusions) under it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from common import write_section  # noqa: E402

BEFORE = """# Benchmarks

## Speed

`old command` on 2026-01-01, 2 CPU cores.

| old table |

### An earlier run (kept)

Its conclusions.

## Memory

| memory table |
"""


def test_write_section_replaces_the_table_and_keeps_subsections_and_later_sections(tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(BEFORE)
    write_section(md, "## Speed", "new command", ["| new table |"], "\nnew notes\n")
    text = md.read_text()
    assert "| old table |" not in text and "old command" not in text
    assert "`new command` on" in text and "| new table |" in text and "new notes" in text
    assert "### An earlier run (kept)\n\nIts conclusions." in text
    assert "## Memory\n\n| memory table |" in text
    assert text.index("| new table |") < text.index("### An earlier run") < text.index("## Memory")


def test_write_section_appends_a_missing_section(tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(BEFORE)
    write_section(md, "## Disk", "disk command", ["| disk |"])
    text = md.read_text()
    assert text.startswith(BEFORE.rstrip()) and text.rstrip().endswith("| disk |")
