"""Java and Maven for the dev tools: a Java runtime's major version, finding one new enough, and
running Maven with one short line per downloaded file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from shutil import which

from meshpipe.deploy.dev.procs import DevStackError

JVM_DIR = Path("/usr/lib/jvm")  # where Debian's and Temurin's packages install their runtimes


def java_major(java: str) -> int | None:
    """The major version `java -version` reports (17, 21, …), or None when it says none."""
    done = subprocess.run(  # noqa: S603
        [java, "-version"], capture_output=True, text=True, check=False
    )
    match = re.search(r'version "(\d+)', done.stderr + done.stdout)
    return int(match.group(1)) if match else None


def _candidates() -> Iterator[str]:
    on_path = which("java")
    if on_path:
        yield on_path
    home = os.environ.get("JAVA_HOME")
    if home:
        yield str(Path(home) / "bin" / "java")
    if JVM_DIR.is_dir():
        yield from (str(p) for p in sorted(JVM_DIR.glob("*/bin/java")))


def find_java(minimum: int, what: str) -> str:
    """A java binary of at least `minimum`: the one on PATH, then JAVA_HOME's, then any under
    /usr/lib/jvm (Debian 12 packages Java 17 only; newer ones come from elsewhere)."""
    seen: list[str] = []
    for java in dict.fromkeys(_candidates()):
        if not os.access(java, os.X_OK):
            continue
        major = java_major(java)
        if major is not None and major >= minimum:
            return java
        seen.append(f"{major or 'unknown'} at {java}")
    found = "; found " + ", ".join(seen) if seen else "; found no java"
    raise DevStackError(f"{what} needs Java {minimum}+{found}: set JAVA_HOME to one")


def run_maven(argv: list[str], what: str) -> None:
    """Run Maven, echoing one short line per downloaded file so a first fetch is not silent."""
    proc = subprocess.Popen(  # noqa: S603
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-19:], line.rstrip()]
        if line.startswith("Downloaded from"):
            sys.stderr.write(f"  downloaded {line.rsplit('/', 1)[-1].split(' ')[0]}\n")
    if proc.wait() != 0:
        errors = [t for t in tail if "ERROR" in t] or tail[-1:]
        raise DevStackError(f"fetching {what} with Maven failed: {errors[0] if errors else ''}")


def require_maven() -> str:
    mvn = which("mvn")
    if mvn is None:
        raise DevStackError("Maven (mvn) not found; run `make setup` (installs it when root)")
    return mvn
