"""Shared fixtures for integration tests: the real dev-stack servers, started once per session."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.kube_target import KubeTarget

from meshpipe.deploy.dev.clickhouse import ClickHouseSettings
from meshpipe.deploy.dev.cluster import Cluster
from meshpipe.deploy.dev.clusterconf import ClusterSettings
from meshpipe.deploy.dev.hoststate import take_snapshot
from meshpipe.deploy.dev.images import ImageBuildSettings, build_images, missing_tools
from meshpipe.deploy.dev.oci import BuiltImage
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.dev.stack import DevStack
from meshpipe.sinks.client import ChdbClient, ClickHouseUrl, NativeClient

# --- ClickHouse -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def clickhouse_settings(dev_stack: DevStack) -> ClickHouseSettings:
    """The dev stack's ClickHouse (started once per session by the root conftest's dev_stack)."""
    return dev_stack.settings.clickhouse


def _unique_database() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clickhouse_db(clickhouse_settings: ClickHouseSettings) -> Iterator[tuple[NativeClient, str]]:
    """A writer client on the real server and a fresh database dropped after the test."""
    database = _unique_database()
    with NativeClient(clickhouse_settings.url()) as client:
        client.execute(f"CREATE DATABASE {database}")
        try:
            yield client, database
        finally:
            client.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def clickhouse_readonly(clickhouse_settings: ClickHouseSettings) -> Iterator[NativeClient]:
    """A client logged in as the read-only user meshpipe_ro."""
    url: ClickHouseUrl = clickhouse_settings.url(user="meshpipe_ro")
    with NativeClient(url) as client:
        yield client


@pytest.fixture
def chdb_db(chdb_session: ChdbClient) -> Iterator[tuple[ChdbClient, str]]:
    """The chdb client and a fresh database dropped after the test."""
    database = _unique_database()
    chdb_session.execute(f"CREATE DATABASE {database}")
    try:
        yield chdb_session, database
    finally:
        chdb_session.execute(f"DROP DATABASE IF EXISTS {database}")


# --- Kubernetes -------------------------------------------------------------------------------


def _external_kubeconfig(ours: Path) -> Path | None:
    named = os.environ.get("KUBECONFIG")
    if not named:
        return None
    path = Path(named.split(os.pathsep)[0]).expanduser()
    return None if path.resolve() == ours.resolve() else path


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeTarget]:
    """A Kubernetes cluster, brought up once per session: KUBECONFIG's when it names another
    cluster, else ours (needs root; MESHPIPE_SKIP_CLUSTER=1 skips every test that uses it).
    The first run builds Kubernetes into the cache (~15 min on 2 cores). A machine where the
    cluster cannot start skips with the reason, unless MESHPIPE_REQUIRE_CLUSTER=1."""
    if os.environ.get("MESHPIPE_SKIP_CLUSTER") == "1":
        pytest.skip("MESHPIPE_SKIP_CLUSTER=1")
    settings = ClusterSettings.from_env()
    external = _external_kubeconfig(settings.kubeconfig)
    if external is not None:
        built = settings.build.binary("kubectl")
        kubectl = str(built) if built.exists() else (shutil.which("kubectl") or "kubectl")
        yield KubeTarget(external, kubectl, None, None)
        return
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root (or KUBECONFIG naming a cluster)")
    node = Cluster(settings)
    try:
        node.check_host()
    except DevStackError as exc:
        pytest.skip(f"the local cluster cannot start here: {exc}")
    before = take_snapshot(settings.dir)
    try:
        node.up(lambda _line: None)
    except DevStackError as exc:
        node.down(lambda _line: None)
        if os.environ.get("MESHPIPE_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"meshctl dev cluster up failed: {exc}")
        pytest.skip(f"meshctl dev cluster up failed here (MESHPIPE_REQUIRE_CLUSTER=1 fails): {exc}")
    yield KubeTarget(settings.kubeconfig, str(settings.build.binary("kubectl")), node, before)
    node.down(lambda _line: None)


@pytest.fixture(scope="session")
def kube_images(kube: KubeTarget) -> list[BuiltImage]:
    """The project's images in the cluster's containerd: built into build/images when their
    inputs changed since the last build (else taken as they are), imported once per build."""
    if kube.cluster is None:
        pytest.skip("the project's images are loaded only into the cluster it runs itself")
    if missing := missing_tools():
        pytest.skip(f"building images needs {', '.join(missing)} (make system)")
    built = build_images(ImageBuildSettings(out_dir=kube.cluster.s.images_dir), print)
    kube.cluster.load_images([image.archive for image in built], print)
    return built
