"""The compiled build (MESHPIPE_COMPILE=1, setup.py) as users get it: one platform wheel whose
listed modules are mypyc extensions, a sidecar from it relaying HTTP/1.1 and h2c with the events
in the real Kafka, and the proxy's, the contract's and the worker's unit tests passing against
the compiled modules. The wheel is compiled once per state of its sources (build/compiled/,
about 70 s)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from test_proxy_cli import wait_ready
from test_proxy_h2spec import BODY, h2_app
from test_proxy_relay import LOOPBACK, consume, curl, free_port, origin

from meshpipe.deploy.dev.compiled import CompileConfig, compiled_venv, compiled_wheel
from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.proxy.layer import Address
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
CONFIG = CompileConfig.read(REPO)
# What the unit tests below need besides meshpipe[proxy] (at this environment's versions).
TEST_REQUIREMENTS = ("pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "h2")
# The unit tests run against the compiled modules; the one that needs chdb stays with the pure run.
UNIT_TESTS = ("test_proxy_*.py", "test_schemas_*.py", "test_streams_*.py")
NEEDS_CHDB = "test_schemas_latency.py::test_clickhouse_expression_reproduces_bucket_index"


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def wheel() -> Path:
    return compiled_wheel(REPO, log=_quiet)


@pytest.fixture(scope="module")
def compiled_bin(wheel: Path) -> Path:
    del wheel  # built first, so a compile failure shows as such
    return compiled_venv("proxy,streams", TEST_REQUIREMENTS, REPO, log=_quiet)


def test_the_wheel_is_for_this_platform_and_holds_every_listed_module_compiled(
    wheel: Path,
) -> None:
    assert wheel.name.endswith("-cp311-cp311-linux_x86_64.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"meshpipe", "meshpipe-0.1.0.dist-info"}
    extensions = {n.split(".cpython-")[0] for n in names if n.endswith(".so")}
    runtime = CONFIG.runtime_module.replace(".", "/")
    assert extensions == {runtime, *(f"meshpipe/{m.removesuffix('.py')}" for m in CONFIG.modules)}
    assert runtime.startswith("meshpipe/schemas/")  # inside a part, not beside the namespace


def test_the_extension_names_its_sources_by_a_path_every_compile_repeats(wheel: Path) -> None:
    # mypyc writes each module's path into the shared runtime for tracebacks; the compile runs in
    # a temporary directory, whose name would make each compile's bytes (and the images') differ.
    archive = zipfile.ZipFile(wheel)
    [runtime] = [n for n in archive.namelist() if "__mypyc" in n and n.endswith(".so")]
    data = archive.read(runtime)
    assert b"src/meshpipe/proxy/http1.py" in data  # relative to setup.py's stage, build/mypyc
    assert b"/build/mypyc/src/meshpipe/" not in data  # the stage's absolute path


def test_the_listed_modules_import_from_extensions_in_the_installed_sidecar(
    compiled_bin: Path,
) -> None:
    show = (
        "import importlib, sys\nfor n in sys.argv[1:]: print(importlib.import_module(n).__file__)"
    )
    done = subprocess.run(
        [compiled_bin / "python", "-c", show, *CONFIG.module_names],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    assert len(files) == len(CONFIG.module_names)
    assert [f for f in files if not f.endswith("-x86_64-linux-gnu.so")] == []


@asynccontextmanager
async def compiled_meshproxy(
    bin_dir: Path, kafka: str, topic: str, app: Address
) -> AsyncIterator[str]:
    """The compiled venv's meshproxy command, inbound in front of app; yields its listener."""
    inbound, admin = free_port(), free_port()
    env = dict(
        os.environ,
        MESHPIPE_WORKLOAD="emojivoto/deployment/api",
        MESHPIPE_POD="api-7",
        MESHPIPE_INBOUND=f"{LOOPBACK}:{inbound}={app.host}:{app.port}",
        MESHPIPE_ADMIN=f"{LOOPBACK}:{admin}",
        MESHPIPE_KAFKA=kafka,
        MESHPIPE_TOPIC=topic,
    )
    proc = await asyncio.create_subprocess_exec(bin_dir / "meshproxy", env=env)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"http://{LOOPBACK}:{admin}/ready")
        yield f"{LOOPBACK}:{inbound}"
    finally:
        proc.terminate()  # SIGTERM: drains and flushes the events
        async with asyncio.timeout(30):
            assert await proc.wait() == 0


async def test_the_compiled_sidecar_relays_http1_and_its_event_reaches_kafka(
    compiled_bin: Path, kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with origin() as app, compiled_meshproxy(compiled_bin, kafka_bootstrap, topic, app) as at:
        rc, body = await curl(f"http://{at}/hello?x=1")
    assert (rc, body) == (0, "hello world")
    [(_, event)] = await consume(kafka_bootstrap, topic, 1)
    assert (event.protocol, event.direction, event.method, event.path) == (
        meshpipe_pb2.HTTP1,
        meshpipe_pb2.INBOUND,
        "GET",
        "/hello?x=1",
    )
    assert (event.http_status, event.destination.pod) == (200, "api-7")
    assert event.classification == meshpipe_pb2.SUCCESS


async def test_the_compiled_sidecar_relays_h2c_and_its_event_reaches_kafka(
    compiled_bin: Path, kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with h2_app() as app, compiled_meshproxy(compiled_bin, kafka_bootstrap, topic, app) as at:
        rc, body = await curl("--http2-prior-knowledge", "-d", "form=1", f"http://{at}/submit")
    assert (rc, body.encode()) == (0, BODY)
    [(_, event)] = await consume(kafka_bootstrap, topic, 1)
    assert (event.protocol, event.method, event.path, event.http_status) == (
        meshpipe_pb2.HTTP2,
        "POST",
        "/submit",
        200,
    )
    assert event.request_bytes == len(b"form=1")
    assert event.response_bytes == len(BODY)


def test_the_proxy_contract_and_worker_unit_tests_pass_against_the_compiled_modules(
    compiled_bin: Path, tmp_path: Path
) -> None:
    unit = tmp_path / "unit"
    shutil.copytree(REPO / "tests" / "unit", unit, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "timeout = 300\n"
    )
    selected = sorted(str(p.relative_to(tmp_path)) for g in UNIT_TESTS for p in unit.glob(g))
    argv = [compiled_bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *selected]
    done = subprocess.run(
        [*argv, "--deselect", f"unit/{NEEDS_CHDB}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
