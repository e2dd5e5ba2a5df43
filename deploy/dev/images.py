"""`make images` / `meshctl dev images`: deploy/images/Containerfile built here without Docker.

The build context (the project's wheels and every dependency, pinned to the versions installed
in the running environment, and pip as a wheel) is made on the host, where the package index is
reachable. The recipe's stages then run from a debootstrap'ed Debian root (BASE): COPY from the
context or another stage, RUN in a chroot. The finished roots become OCI layouts and
docker-archives under build/images/, tagged as `meshctl install`/`inject` reference them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.deploy.dev.compiled import compiled_wheel, images_compiled
from meshpipe.deploy.dev.containerfile import Copy, Run, StagePlan, global_args, plan
from meshpipe.deploy.dev.kafka import DEFAULT_VERSION as DEFAULT_KAFKA_VERSION
from meshpipe.deploy.dev.kafka import KafkaRunner, KafkaSettings, default_cache_dir
from meshpipe.deploy.dev.oci import BuiltImage, PackRequest, built_image, pack
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.dev.rootfs import (
    BaseSpec,
    base_root,
    chroot_run,
    copy_tree,
    run_tool,
    work_dir,
)
from meshpipe.deploy.dev.sources import built_package_files, copy_source, source_files
from meshpipe.deploy.mesh.proxyspec import IMAGE_REPOSITORY

Log = Callable[[str], None]
REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = Path("deploy/images/Containerfile")
# Image name = the Containerfile target; the references are IMAGE_REPOSITORY/NAME:VERSION.
TARGETS = ("meshproxy", "meshstreams", "meshpipe-demo", "clickhouse-debian", "kafka")
# The local cluster's data services: images a user's cluster takes from elsewhere.
DATA_TARGETS = ("clickhouse-debian", "kafka")
# The extras the context holds wheels for: every image's, and what meshpipe-demo requires.
_CONTEXT_EXTRAS = "[proxy,streams,cli,dashboard,kube]"
_TOOLS = ("debootstrap", "umoci", "skopeo", "unshare", "chroot")
# Files of deploy/images/ that the context carries (the data images' configs and scripts).
_CONTEXT_DIRS = ("clickhouse", "kafka")
# What a source change must touch to change an image: not tests, benchmarks or documents.
_NOT_IN_IMAGES = ("tests/", "bench/", "docs/", ".github/")


@dataclass(frozen=True)
class ImageBuildSettings:
    """Where the recipe, the outputs and the cached base live, and what to build."""

    repo: Path = REPO
    targets: tuple[str, ...] = TARGETS
    cache_dir: Path = field(default_factory=default_cache_dir)
    base: BaseSpec = field(default_factory=BaseSpec)
    python: str = sys.executable  # its pip makes the wheels; its installed versions pin them
    out_dir: Path = REPO / "build" / "images"
    kafka_version: str = DEFAULT_KAFKA_VERSION  # the jars in the kafka image
    # meshpipe's wheel compiled with mypyc (deploy/dev/compiled.py), built here on the images'
    # own base (Debian 12, CPython 3.11), so no compiler lands in an image. The default; False
    # (`--pure`, MESHPIPE_COMPILE=0) puts the pure wheel in the images instead.
    compiled: bool = field(default_factory=images_compiled)

    @property
    def context(self) -> Path:
        return self.out_dir / "context"


def missing_tools() -> list[str]:
    """The host tools a local build needs that are not installed (Debian: make system)."""
    return [tool for tool in _TOOLS if shutil.which(tool) is None]


def build_images(settings: ImageBuildSettings, log: Log) -> list[BuiltImage]:
    """Every target of settings, built from the context and the cached Debian root; a target
    whose inputs (recipe, sources, pinned versions, base, jars) are those of its last build in
    out_dir is taken as it is."""
    if os.geteuid() != 0:
        raise DevStackError("building images needs root (debootstrap, chroot)")
    if missing := missing_tools():
        raise DevStackError(f"building images needs {', '.join(missing)} (make system)")
    digests = {t: inputs_digest(settings, t) for t in settings.targets}
    cached = {t: image for t in settings.targets if (image := _cached(settings, t, digests[t]))}
    for image in cached.values():
        log(f"{image.name}: unchanged since its last build ({image.reference})")
    todo = [t for t in settings.targets if t not in cached]
    if not todo:
        return [cached[t] for t in settings.targets]
    text = (settings.repo / CONTAINERFILE).read_text()
    epoch = containerfile_epoch(settings)
    version = make_context(settings, epoch, log)
    base = base_root(settings.base, settings.cache_dir, epoch, log)
    built = dict(cached)
    with work_dir(settings.out_dir / "work") as work:
        roots: dict[str, Path] = {}
        for target in todo:
            stages = plan(text, target, {"BASE": str(base)})
            for stage in stages:
                if stage.name not in roots:
                    roots[stage.name] = _run_stage(stage, base, settings.context, roots, work, log)
            reference = f"{IMAGE_REPOSITORY}/{target}:{version}"
            log(f"{target}: packing {reference}")
            config = stages[-1].config
            image = pack(
                PackRequest(
                    target, reference, base, roots[target], config, settings.out_dir, work, epoch
                )
            )
            _stamp(settings, target).write_text(f"{digests[target]} {reference}\n")
            log(image.summary())
            built[target] = image
    return [built[t] for t in settings.targets]


def _stamp(settings: ImageBuildSettings, target: str) -> Path:
    return settings.out_dir / f"{target}.inputs"


def _cached(settings: ImageBuildSettings, target: str, digest: str) -> BuiltImage | None:
    """The image of target in out_dir when it was built from these inputs, else None."""
    stamp = _stamp(settings, target)
    layout, archive = settings.out_dir / f"{target}.oci", settings.out_dir / f"{target}.tar"
    if not (stamp.exists() and layout.exists() and archive.exists()):
        return None
    got, _, reference = stamp.read_text().strip().partition(" ")
    return built_image(target, reference, layout, archive) if got == digest else None


def inputs_digest(settings: ImageBuildSettings, target: str) -> str:
    """sha256 over everything target is made from: the recipe, the base's key and the Kafka
    jars' version; for the meshpipe images also the sources the wheels are built from and the
    pinned versions, for the data images their context folders."""
    digest = hashlib.sha256()
    names = source_files(settings.repo)
    if target in DATA_TARGETS:
        folders = tuple(f"{CONTAINERFILE.parent}/{name}/" for name in _CONTEXT_DIRS)
        names = [n for n in names if n.startswith(folders) or n == str(CONTAINERFILE)]
    else:
        names = [n for n in names if not n.startswith(_NOT_IN_IMAGES) and not n.endswith(".md")]
        names += built_package_files(settings.repo)
        digest.update(_pins(settings).encode())
        digest.update(b"compiled" if settings.compiled else b"pure")
    for name in sorted(names):
        digest.update(f"{name}\0".encode())
        digest.update(hashlib.sha256((settings.repo / name).read_bytes()).digest())
    digest.update(f"{settings.base.key} {settings.kafka_version}".encode())
    return digest.hexdigest()


def ensure_images(settings: ImageBuildSettings, log: Log) -> list[Path]:
    """The targets' docker-archives; build_images rebuilds only targets whose inputs changed."""
    return [image.archive for image in build_images(settings, log)]


def containerfile_epoch(settings: ImageBuildSettings) -> int:
    """The recipe's SOURCE_DATE_EPOCH: the time of every file and of the images' configs."""
    text = (settings.repo / CONTAINERFILE).read_text()
    return int(global_args(text, {})["SOURCE_DATE_EPOCH"])


def _run_stage(
    stage: StagePlan, base: Path, context: Path, roots: Mapping[str, Path], work: Path, log: Log
) -> Path:
    root = work / stage.name
    if stage.parent_stage is not None:
        copy_tree(roots[stage.parent_stage], root)
    elif stage.base_image == str(base):
        copy_tree(base, root)
    else:
        raise DevStackError(
            f"stage {stage.name}: FROM {stage.base_image}: the local builder pulls nothing; "
            "it starts from its Debian root (BASE)"
        )
    for step in stage.steps:
        if isinstance(step, Run):
            log(f"{stage.name}: RUN {' '.join(step.argv[-1:])[:100]}")
            chroot_run(root, step.argv, step.env, step.user)
        else:
            log(f"{stage.name}: COPY {' '.join(step.sources)} {step.dest}")
            _copy(step, root, context, roots)
    return root


def _copy(step: Copy, root: Path, context: Path, roots: Mapping[str, Path]) -> None:
    source_root = roots[step.from_stage] if step.from_stage else context
    dest = root / step.dest.lstrip("/")
    for name in step.sources:
        source = source_root / name.lstrip("/")
        if not source.resolve().is_relative_to(source_root.resolve()):
            raise DevStackError(f"COPY {name}: outside {source_root}")
        if source.is_dir():
            copy_tree(source, dest)
        else:
            target = dest / source.name if step.dest.endswith("/") else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def make_context(settings: ImageBuildSettings, epoch: int, log: Log) -> str:
    """build/images/context: wheels/ and pip.whl, the Containerfile's build context. Returns
    the meshpipe version the wheels carry (the images' tag)."""
    context = settings.context
    if context.exists():
        shutil.rmtree(context)
    wheels = context / "wheels"
    wheels.mkdir(parents=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    pip: list[str | Path] = [settings.python, "-m", "pip"]
    with tempfile.TemporaryDirectory(prefix="meshpipe-source-") as tmp:
        source = Path(tmp)
        copy_source(settings.repo, source)
        projects = [source / "demo"] if settings.compiled else [source, source / "demo"]
        if settings.compiled:
            compiled = compiled_wheel(settings.repo, settings.python, log)
            log(f"context: the compiled meshpipe wheel ({compiled.name}), the meshpipe-demo wheel")
            shutil.copy2(compiled, wheels)
        else:
            log("context: building the meshpipe and meshpipe-demo wheels")
        for project in projects:
            build: list[str | Path] = [
                "-m",
                "build",
                "--wheel",
                "--no-isolation",
                "--outdir",
                wheels,
                project,
            ]
            run_tool([settings.python, *build], "building a wheel", env)
    [meshpipe] = wheels.glob("meshpipe-*.whl")
    [demo] = wheels.glob("meshpipe_demo-*.whl")
    constraints = context / "constraints.txt"
    constraints.write_text(_pins(settings))
    log("context: pip wheel for the dependencies (pinned to this environment)")
    requirements = [
        f"meshpipe{_CONTEXT_EXTRAS} @ {meshpipe.as_uri()}",
        f"meshpipe-demo @ {demo.as_uri()}",
    ]
    wheel: list[str | Path] = [
        "wheel",
        "-q",
        "--wheel-dir",
        wheels,
        "--constraint",
        constraints,
        *requirements,
    ]
    run_tool([*pip, *wheel], "pip wheel", env)
    _data_context(settings, context)
    pip_version = _pins(settings, only="pip").strip().split("==")[1]
    with tempfile.TemporaryDirectory(prefix="meshpipe-pip-") as tmp:
        download = ["download", "-q", "--no-deps", "--dest", tmp, f"pip=={pip_version}"]
        run_tool([*pip, *download], "pip download pip", env)
        [pip_wheel] = Path(tmp).glob("pip-*.whl")
        shutil.copy2(pip_wheel, context / "pip.whl")
    return meshpipe.name.split("-")[1]


def _data_context(settings: ImageBuildSettings, context: Path) -> None:
    """clickhouse/ and kafka/ of deploy/images, and kafka/libs: the broker's jars (fetched from
    Maven Central into the cache once) with its log4j2 configuration."""
    for name in _CONTEXT_DIRS:
        shutil.copytree(settings.repo / CONTAINERFILE.parent / name, context / name)
    kafka = KafkaSettings(version=settings.kafka_version, cache_dir=settings.cache_dir)
    libs = KafkaRunner(kafka).fetch()
    shutil.copytree(libs, context / "kafka" / "libs", ignore=shutil.ignore_patterns(".*"))
    shutil.copy2(settings.repo / "deploy/kafka/log4j2.properties", context / "kafka")


def _pins(settings: ImageBuildSettings, only: str | None = None) -> str:
    """`name==version` of what the environment has installed (editables and URLs left out)."""
    freeze = [settings.python, "-m", "pip", "freeze", "--all", "--exclude-editable"]
    result = subprocess.run(freeze, capture_output=True, text=True, check=True)  # noqa: S603
    lines = [line for line in result.stdout.splitlines() if "==" in line and " @ " not in line]
    if only is not None:
        lines = [line for line in lines if line.lower().startswith(f"{only}==")]
    return "".join(f"{line}\n" for line in lines)
