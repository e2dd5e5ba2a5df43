"""Runs the chosen scenarios, prints the markdown table and writes the JSON and result files."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.machine import describe
from bench.procs import BenchError
from bench.report import ScenarioResult, document, markdown

RESULTS_DIR = Path(__file__).parent / "results"
SCENARIOS = ("proxy", "pipeline", "tap", "query", "dashboard")


@dataclass(frozen=True)
class RunContext:
    """What every scenario gets: quick or full, a scratch directory, the dev stack's addresses."""

    quick: bool
    workdir: Path
    kafka: str  # bootstrap servers
    clickhouse: str  # clickhouse://USER@HOST:PORT (the scenario picks its own database)
    proxy_loop: str = "uvloop"  # meshproxy's event loop in the proxy scenario
    compiled: bool = False  # also measure the compiled meshproxy (MESHPIPE_COMPILE=1)


Scenario = Callable[[RunContext, ScenarioResult], None]


def _scenario(name: str) -> Scenario:
    # Imported on demand: a scenario's dependencies load only when it runs.
    if name == "proxy":
        from bench.proxy_scenario import proxy

        return proxy
    if name == "pipeline":
        from bench.pipeline import pipeline

        return pipeline
    if name == "tap":
        from bench.tap import tap

        return tap
    if name == "dashboard":
        from bench.dashboard import dashboard

        return dashboard
    from bench.query import query

    return query


def run_scenario(name: str, ctx: RunContext) -> ScenarioResult:
    """Run one scenario; a setup failure becomes a skip with its reason, never a crash."""
    result = ScenarioResult(name)
    began = time.monotonic()
    workdir = ctx.workdir / name
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        _scenario(name)(replace(ctx, workdir=workdir), result)
    except (BenchError, OSError) as exc:
        result.skip("all", f"{type(exc).__name__}: {exc}"[:500])
    result.seconds = time.monotonic() - began
    return result


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", choices=(*SCENARIOS, "all"))
    parser.add_argument("--quick", action="store_true", help="short runs (all in ~2 minutes)")
    parser.add_argument("--json", type=Path, help="also write the JSON document here")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--clickhouse", default="clickhouse://default@127.0.0.1:9000")
    parser.add_argument(
        "--proxy-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="meshproxy's event loop (asyncio: uvloop made unimportable) [uvloop]",
    )
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="proxy: also measure meshproxy built with MESHPIPE_COMPILE=1 (mypyc; compiled once "
        "per source state into build/compiled/), one hop and the pair, in the same run",
    )
    parser.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write bench/results/DATE-SCENARIO.{json,md} (default: on for full runs)",
    )
    return parser.parse_args(argv)


def save(doc: dict[str, object], table: str, label: str, directory: Path = RESULTS_DIR) -> Path:
    """Write DATE-LABEL.json and .md (with the machine description) into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    base = directory / f"{stamp}-{label}"
    base.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    machine = json.dumps(doc["machine"], indent=2)
    base.with_suffix(".md").write_text(
        f"# bench {label} ({stamp})\n\n{table}\n## machine\n\n```json\n{machine}\n```\n"
    )
    return base


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    machine = describe()
    with tempfile.TemporaryDirectory(prefix="meshpipe-bench-") as tmp:
        ctx = RunContext(
            args.quick, Path(tmp), args.kafka, args.clickhouse, args.proxy_loop, args.compiled
        )
        results = []
        for name in names:
            print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
            results.append(run_scenario(name, ctx))
            print(markdown(results[-1:]), flush=True)
    doc = document(results, machine)
    doc["quick"] = args.quick
    doc["scenario"] = args.scenario
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    if args.save if args.save is not None else not args.quick:
        label = f"{args.scenario}-quick" if args.quick else args.scenario
        base = save(doc, markdown(results), label)
        print(f"results: {base}.json, {base}.md")
    return 0
