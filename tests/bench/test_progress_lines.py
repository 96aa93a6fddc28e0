"""The bench's progress in a log file: rich's bar is not redrawn when stderr is not a
terminal, so each finished material gets one plain line (model, id, status, count, time)."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from phonjax.bench.runner import RichProgress


def test_one_line_per_material_when_not_a_terminal():
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=False, width=200))
    tally = SimpleNamespace(failed=0, input_errors=[])
    progress.start([("chgnet", 2)], {"chgnet": tally})
    progress.advance("chgnet", {"material_id": "mp-1", "status": "ok"})
    tally.failed = 1
    progress.advance("chgnet", {"material_id": "mp-2", "status": "failed"})
    progress.stop()
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("chgnet: mp-")]
    assert lines[0].startswith("chgnet: mp-1 ok · 1/2 done, 0 failed")
    assert lines[1].startswith("chgnet: mp-2 failed · 2/2 done, 1 failed")


def test_no_extra_lines_on_a_terminal():
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=True, width=200))
    progress.start([("chgnet", 1)], {"chgnet": SimpleNamespace(failed=0, input_errors=[])})
    progress.advance("chgnet", {"material_id": "mp-1", "status": "ok"})
    progress.stop()
    assert "chgnet: mp-1 ok" not in out.getvalue()
