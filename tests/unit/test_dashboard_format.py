"""The dashboard's cell formats (static/format.js) print what meshstat prints (cli.stat_render)
for the same numbers, exact ties included (Python rounds them to even, JS up). Runs format.js in
Node.js when it is installed (`make assets` needs it)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from meshpipe.cli.stat_render import format_latency, format_percent

FORMAT_JS = Path(__file__).resolve().parents[2] / "dashboard" / "static" / "format.js"
NODE = shutil.which("node")


def _values() -> list[float]:
    rng = random.Random(7)
    ties = [n / 8 for n in range(0, 800)] + [n / 2 for n in range(0, 200)]
    fractions = [k / n for n in range(1, 400) for k in (1, n // 3, n // 2, n - 1)]
    return ties + fractions + [rng.lognormvariate(0, 2) for _ in range(2000)]


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_format_js_prints_what_meshstat_prints() -> None:
    values = _values()
    script = (
        FORMAT_JS.read_text()
        + f"\nconst xs = {json.dumps(values)};"
        + "\nconsole.log(JSON.stringify(xs.map((x) => [fmtPercent(x / 100 <= 1 ? x / 100 : 1 / x),"
        " fmtLatency(x), fmtRps({ requests: 1, rps: x })])));"
    )
    assert NODE is not None
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True)
    shown = json.loads(done.stdout)
    for x, (percent, latency, rps) in zip(values, shown, strict=True):
        fraction = x / 100 if x / 100 <= 1 else 1 / x
        assert percent == format_percent(fraction), x
        assert latency == format_latency(x), x
        assert rps == f"{x:.1f}rps", x
