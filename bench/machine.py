"""Describes the machine a run happens on: cores, CPU model, load, tool and library versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.fortio import fortio_path

_TOOLS: dict[str, list[str]] = {
    "nginx": ["nginx", "-v"],
    "haproxy": ["haproxy", "-v"],
    "wrk": ["wrk", "--version"],
    "h2load": ["h2load", "--version"],
    "fortio": [fortio_path() or "fortio", "version"],
}
_PACKAGES = ("aiokafka", "faust-streaming", "clickhouse-driver", "h2", "httptools", "uvloop")


def cpu_model(cpuinfo: str) -> str:
    """The first `model name` of a /proc/cpuinfo text ('' when there is none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return ""


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _tool_version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    """The machine description stored with every result."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(cpuinfo),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "load_average_at_start": load_average(),
        "tools": {name: _tool_version(argv) for name, argv in _TOOLS.items()},
        "packages": {name: _package_version(name) for name in _PACKAGES},
    }
