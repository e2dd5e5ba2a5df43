"""The story's steps as meshstat/meshtap commands, and how `--check` judges each one's JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from meshpipe.demo.plan import NAMESPACE

Rows = list[dict[str, object]]
Verdict = tuple[bool, str]  # passed, what was seen
LEGACY_PATH = "/api/find-by-shortcode"
TAP_COUNT = 40


@dataclass(frozen=True)
class Step:
    title: str  # the command a user types, as printed
    tool: str  # meshstat or meshtap
    args: tuple[str, ...]  # after the tool, without -o json and connection flags
    judge: Callable[[Rows], Verdict]


def by_name(rows: Rows) -> dict[str, Mapping[str, object]]:
    return {str(r.get("name")): r for r in rows}


def success(rows: Rows, name: str) -> float | None:
    value = by_name(rows).get(name, {}).get("success")
    return float(value) if isinstance(value, int | float) else None


def _show(rate: float | None) -> str:
    return "no data" if rate is None else f"{rate:.0%}"


def expect(rows: Rows, wanted: Mapping[str, str]) -> Verdict:
    """wanted maps a row name to 'full' (exactly 100%) or 'partial' (below 100%, above none)."""
    seen, ok = [], True
    for name, level in wanted.items():
        rate = success(rows, name)
        good = rate is not None and (rate == 1.0 if level == "full" else rate < 1.0)
        ok = ok and good
        want = "100%" if level == "full" else "below 100%"
        seen.append(f"{name} {_show(rate)} (want {want})")
    return ok, ", ".join(seen)


def _values(obj: object) -> Iterator[tuple[str, object]]:
    """Every (key, value) pair in a nested JSON object, at any depth."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield str(key), value
            yield from _values(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _values(item)


def legacy_500(event: Mapping[str, object]) -> bool:
    """A tap event of an HTTP/1 call to the old endpoint that answered 500."""
    pairs = list(_values(event))
    status = any(
        k.lower().lstrip(":") in ("http_status", "httpstatus", "status") and str(v) == "500"
        for k, v in pairs
    )
    path = any(k.lower() == "path" and LEGACY_PATH in str(v) for k, v in pairs)
    return status and path


def judge_tap(events: Rows) -> Verdict:
    failing = [e for e in events if legacy_500(e)]
    seen = f"{len(failing)} of {len(events)} events are :status=500 on {LEGACY_PATH}"
    return bool(failing), seen


STEPS: Sequence[Step] = (
    Step(
        f"meshstat deploy -n {NAMESPACE}",
        "meshstat",
        ("deploy", "-n", NAMESPACE),
        lambda rows: expect(rows, {"web": "partial", "voting": "partial"}),
    ),
    Step(
        f"meshstat deploy -n {NAMESPACE} --from deploy/web",
        "meshstat",
        ("deploy", "-n", NAMESPACE, "--from", "deploy/web"),
        lambda rows: expect(rows, {"emoji": "full", "voting": "partial"}),
    ),
    Step(
        f"meshstat deploy -n {NAMESPACE} --from deploy/voting",
        "meshstat",
        ("deploy", "-n", NAMESPACE, "--from", "deploy/voting"),
        lambda rows: expect(rows, {"emoji": "partial"}),
    ),
    Step(
        f"meshstat deploy -n {NAMESPACE} --to deploy/emoji",
        "meshstat",
        ("deploy", "-n", NAMESPACE, "--to", "deploy/emoji"),
        lambda rows: expect(rows, {"web": "full", "voting": "partial"}),
    ),
    Step(
        f"meshtap deploy/voting -n {NAMESPACE} --max-rps 10",
        "meshtap",
        ("deploy/voting", "-n", NAMESPACE, "--max-rps", "10", "--count", str(TAP_COUNT)),
        judge_tap,
    ),
)


def parse_output(tool: str, stdout: str) -> Rows:
    """meshstat -o json prints one list; meshtap -o json one object per line."""
    if tool == "meshstat":
        data = json.loads(stdout or "[]")
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [r for r in rows if isinstance(r, dict)]


def step_result(tool: str, returncode: int, stdout: str, stderr: str) -> tuple[Rows | None, str]:
    """A finished step command's rows, or None and why it failed (its exit and last line)."""
    if returncode != 0:
        lines = (stderr or stdout).strip().splitlines() or [""]
        return None, f"exit {returncode}: {lines[-1]}"
    try:
        return parse_output(tool, stdout), ""
    except json.JSONDecodeError as exc:
        return None, f"output is not JSON: {exc}"
