"""`meshctl inject` and `--uninject` over real-world manifests match their golden files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from golden import GOLDEN, check_golden

from meshpipe.cli.inject import inject

INPUT = GOLDEN / "inject" / "input"
INPUTS = sorted(p for p in INPUT.iterdir() if p.suffix in (".yaml", ".json"))
IMAGE = "ghcr.io/meshpipe/meshproxy:golden"


def _run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    result = CliRunner().invoke(inject, ["--proxy-image", IMAGE, *args], input=stdin)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout, result.stderr


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.name)
def test_inject_output_matches_golden(source: Path) -> None:
    stdout, stderr = _run(str(source))
    check_golden(GOLDEN / "inject" / "injected" / f"{source.stem}.yaml", stdout)
    check_golden(GOLDEN / "inject" / "injected" / f"{source.stem}.txt", stderr)


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.name)
def test_uninject_of_injected_output_matches_golden(source: Path) -> None:
    injected, _ = _run(str(source))
    stdout, stderr = _run("--uninject", "-", stdin=injected)
    check_golden(GOLDEN / "inject" / "uninjected" / f"{source.stem}.yaml", stdout)
    check_golden(GOLDEN / "inject" / "uninjected" / f"{source.stem}.txt", stderr)


@pytest.mark.parametrize(
    "source", [p for p in INPUTS if "already" not in p.name], ids=lambda p: p.name
)
def test_uninject_restores_every_document_of_the_input(source: Path) -> None:
    original = [d for d in yaml.safe_load_all(source.read_text()) if d is not None]
    injected, _ = _run(str(source))
    restored, _ = _run("--uninject", "-", stdin=injected)
    assert list(yaml.safe_load_all(restored)) == original


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.name)
def test_injecting_twice_changes_nothing(source: Path) -> None:
    once, _ = _run(str(source))
    twice, _ = _run("-", stdin=once)
    assert twice == once


def test_directory_input_is_every_file_in_path_order() -> None:
    stdout, stderr = _run(str(INPUT))
    expected = "---\n".join(_run(str(p))[0] for p in INPUTS)
    assert stdout == expected
    assert stderr.count("\n") == len(stderr.splitlines()) == 14
