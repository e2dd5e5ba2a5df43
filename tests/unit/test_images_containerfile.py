"""The local image builder reads deploy/images/Containerfile as Docker would: stages, order,
variables, and the image configs the manifests rely on."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.deploy.dev.containerfile import (
    DEFAULT_PATH,
    ContainerfileError,
    Copy,
    Run,
    StagePlan,
    global_args,
    plan,
    substitute,
)
from meshpipe.deploy.dev.images import (
    CONTAINERFILE,
    REPO,
    TARGETS,
    ImageBuildSettings,
    inputs_digest,
)
from meshpipe.deploy.mesh.install import STREAMS
from meshpipe.deploy.mesh.proxyspec import IMAGE_REPOSITORY, default_proxy_image

RECIPE = (REPO / CONTAINERFILE).read_text()
BASE = {"BASE": "/cache/debian-root"}


def _stage(target: str, name: str) -> StagePlan:
    [stage] = [s for s in plan(RECIPE, target, BASE) if s.name == name]
    return stage


def test_the_sidecar_needs_its_venv_and_the_runtime_stage_in_order() -> None:
    stages = plan(RECIPE, "meshproxy", BASE)
    assert [s.name for s in stages] == ["runtime", "venv", "meshproxy-venv", "meshproxy"]
    root = BASE["BASE"]
    assert [s.base_image for s in stages] == [root, root, None, None]
    assert [s.parent_stage for s in stages] == [None, None, "venv", "runtime"]


def test_the_sidecar_config_is_what_the_injected_pod_runs() -> None:
    config = plan(RECIPE, "meshproxy", BASE)[-1].config
    assert config.entrypoint == ("/opt/meshpipe/bin/meshproxy",)
    assert config.user == "2102"  # ProxyConfig.proxy_uid
    assert dict(config.env)["PATH"].startswith("/opt/meshpipe/bin:")
    assert dict(config.env)["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_sidecar_copies_only_its_own_venv_and_installs_iptables_for_the_init() -> None:
    steps = plan(RECIPE, "meshproxy", BASE)[-1].steps
    [run] = [s for s in steps if isinstance(s, Run)]
    assert "iptables" in run.argv[-1]
    [copy] = [s for s in steps if isinstance(s, Copy)]
    assert copy == Copy(("/opt/meshpipe",), "/opt/meshpipe", "meshproxy-venv")


def test_the_sidecar_venv_installs_only_the_proxy_extra_from_the_context_wheels() -> None:
    [run] = _stage("meshproxy", "meshproxy-venv").steps
    assert isinstance(run, Run)
    assert "--no-index" in run.argv[-1]
    assert "'meshpipe[proxy]'" in run.argv[-1]


def test_run_steps_get_the_epoch_from_the_global_arg_and_dockers_default_path() -> None:
    runs = [s for s in _stage("meshproxy", "venv").steps if isinstance(s, Run)]
    assert runs
    for run in runs:
        env = dict(run.env)
        assert env["SOURCE_DATE_EPOCH"] == global_args(RECIPE, {})["SOURCE_DATE_EPOCH"]
        assert env["PATH"] == DEFAULT_PATH


@pytest.mark.parametrize(
    ("target", "venv"),
    [
        ("meshproxy", "meshproxy-venv"),
        ("meshstreams", "meshstreams-venv"),
        ("meshpipe-demo", "demo-venv"),
    ],
)
def test_each_venv_is_stripped_of_debug_info_by_binutils_that_stay_out_of_the_image(
    target: str, venv: str
) -> None:
    [install] = _stage(target, venv).steps
    assert isinstance(install, Run)
    assert install.argv[-1].endswith(
        "find /opt/meshpipe -type f -name '*.so*' -exec strip --strip-debug --preserve-dates {} +"
    )
    [apt, _] = [s for s in _stage(target, "venv").steps if isinstance(s, Run)]
    assert "install -y --no-install-recommends binutils" in apt.argv[-1]
    image_stages = {"runtime", target}  # the image's root: the runtime stage and its own steps
    for stage in plan(RECIPE, target, BASE):
        if stage.name in image_stages:
            runs = [s.argv[-1] for s in stage.steps if isinstance(s, Run)]
            assert not [r for r in runs if "binutils" in r]
            copies = [s for s in stage.steps if isinstance(s, Copy)]
            assert all(c.sources == ("/opt/meshpipe",) for c in copies)


def test_the_worker_image_runs_meshstreams_and_skips_the_sidecar_stages() -> None:
    stages = plan(RECIPE, "meshstreams", BASE)
    assert "meshproxy-venv" not in [s.name for s in stages]
    assert stages[-1].config.entrypoint == ("/opt/meshpipe/bin/meshstreams",)
    assert stages[-1].config.user == "2103"


def test_the_worker_venv_also_installs_the_dashboard_the_install_runs_from_it() -> None:
    [run] = _stage("meshstreams", "meshstreams-venv").steps
    assert isinstance(run, Run)
    assert "'meshpipe[streams,dashboard]'" in run.argv[-1]  # no kube: the dashboard needs none


def test_the_demo_image_runs_a_module_given_as_the_command() -> None:
    config = plan(RECIPE, "meshpipe-demo", BASE)[-1].config
    assert config.entrypoint == ("/opt/meshpipe/bin/python", "-m")
    assert config.cmd == ("meshpipe.demo.web",)


def test_image_names_are_the_ones_the_manifests_reference() -> None:
    repository, _, _tag = default_proxy_image().rpartition(":")
    assert repository == f"{IMAGE_REPOSITORY}/{TARGETS[0]}"
    assert STREAMS in TARGETS
    for target in TARGETS:
        assert plan(RECIPE, target, BASE)[-1].name == target


def test_a_build_arg_overrides_the_default_base() -> None:
    stages = plan(RECIPE, "meshstreams", {"BASE": "python:3.11-slim-bookworm"})
    assert stages[0].base_image == "python:3.11-slim-bookworm"
    assert plan(RECIPE, "meshstreams", {})[0].base_image == "python:3.11-slim-bookworm"


def test_continued_lines_and_comments_make_one_instruction() -> None:
    text = "FROM scratch AS a\n# note\nRUN echo one \\\n  # inside\n    two\nENV A=1 \\\n B=2\n"
    [stage] = plan(text, "a", {})
    assert stage.steps[0] == Run(("/bin/sh", "-c", "echo one two"), (("PATH", DEFAULT_PATH),), None)
    assert stage.config.env == (("A", "1"), ("B", "2"))


def test_env_and_args_are_substituted_in_later_instructions_but_not_inside_run() -> None:
    text = (
        "ARG ROOT=/srv\nFROM scratch AS a\nARG ROOT\nENV HOME=${ROOT}/home\nENV LEGACY $ROOT/x\n"
        "COPY files $HOME/\nRUN echo $HOME\nUSER ${NOBODY}1\n"
    )
    [stage] = plan(text, "a", {})
    assert dict(stage.config.env) == {"HOME": "/srv/home", "LEGACY": "/srv/x"}
    copy, run = stage.steps
    assert copy == Copy(("files",), "/srv/home/", None)
    assert isinstance(run, Run)
    assert run.argv[-1] == "echo $HOME"
    assert dict(run.env)["ROOT"] == "/srv"
    assert stage.config.user == "1"


def test_a_stage_inherits_env_and_user_from_the_stage_it_starts_from() -> None:
    text = "FROM scratch AS a\nENV A=1\nUSER 7\nFROM a AS b\nENV B=2\nRUN true\n"
    b = plan(text, "b", {})[-1]
    assert dict(b.config.env) == {"A": "1", "B": "2"}
    env = (("A", "1"), ("B", "2"), ("PATH", DEFAULT_PATH))
    assert b.steps == (Run(("/bin/sh", "-c", "true"), env, "7"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM scratch AS a\nHEALTHCHECK NONE\n", "HEALTHCHECK is not supported"),
        ("FROM scratch AS a\nCOPY --from=nowhere /x /x\n", "no such stage"),
        ("FROM b AS a\nFROM a AS b\n", "cycle"),
        ("RUN true\nFROM scratch AS a\n", "only ARG may precede FROM"),
        ("FROM scratch AS a\nCOPY --chown=1 x /x\n", "COPY [--from=STAGE] SRC... DEST"),
        ("FROM scratch AS a\nENTRYPOINT [1]\n", "must list strings"),
        ("FROM scratch AS a\nRUN true \\\n", "ends inside a continued line"),
        ("FROM scratch AS a\nFROM scratch AS a\n", "named twice"),
    ],
)
def test_what_the_local_builder_cannot_do_is_refused(text: str, message: str) -> None:
    with pytest.raises(ContainerfileError, match=message.replace("[", r"\[").replace(".", r"\.")):
        plan(text, "a", {})


def test_an_unknown_target_names_the_stages() -> None:
    with pytest.raises(ContainerfileError, match="stages: venv, meshproxy-venv"):
        plan(RECIPE, "envoy", BASE)


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_a_dollar_is_left_alone(text: str) -> None:
    assert substitute(text, {"A": "x"}) == text


def test_the_data_images_run_debians_clickhouse_and_the_kafka_script() -> None:
    clickhouse = plan(RECIPE, "clickhouse-debian", BASE)[-1]
    assert clickhouse.config.entrypoint[0] == "/usr/sbin/clickhouse-server"
    assert clickhouse.config.user == "101"
    kafka = plan(RECIPE, "kafka", BASE)[-1]
    assert kafka.config.entrypoint == ("/opt/kafka/kafka-run",)
    assert Copy(("kafka",), "/opt/kafka", None) in kafka.steps
    assert "openjdk-17-jre-headless" in " ".join(kafka.steps[0].argv)  # type: ignore[union-attr]


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for name, text in {
        "deploy/images/Containerfile": "FROM x AS y\n",
        "deploy/images/kafka/kafka-run": "#!/bin/sh\n",
        "deploy/images/clickhouse/config.xml": "<yandex/>\n",
        "proxy/relay.py": "x = 1\n",
        "tests/unit/test_x.py": "y = 1\n",
        "dashboard/static/vendor/lib.min.js": "var a;\n",  # `make assets`: built, not tracked
    }.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def test_an_image_is_rebuilt_only_when_its_own_inputs_change(tmp_path: Path) -> None:
    settings = ImageBuildSettings(repo=_repo(tmp_path), out_dir=tmp_path / "out")
    before = {t: inputs_digest(settings, t) for t in ("meshproxy", "kafka")}
    (settings.repo / "tests/unit/test_x.py").write_text("y = 2\n")
    assert {t: inputs_digest(settings, t) for t in before} == before
    (settings.repo / "proxy/relay.py").write_text("x = 2\n")
    assert inputs_digest(settings, "meshproxy") != before["meshproxy"]
    assert inputs_digest(settings, "kafka") == before["kafka"]
    (settings.repo / "deploy/images/kafka/kafka-run").write_text("#!/bin/sh\nexit 1\n")
    assert inputs_digest(settings, "kafka") != before["kafka"]
    after_source = inputs_digest(settings, "meshproxy")
    (settings.repo / "dashboard/static/vendor/lib.min.js").write_text("var b;\n")
    assert inputs_digest(settings, "meshproxy") != after_source  # the wheel carries the assets


def test_the_images_carry_the_compiled_build_unless_the_pure_one_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MESHPIPE_COMPILE", raising=False)
    compiled = ImageBuildSettings(repo=_repo(tmp_path), out_dir=tmp_path / "out")
    assert compiled.compiled  # users run the images: the faster sidecar by default
    monkeypatch.setenv("MESHPIPE_COMPILE", "1")
    assert ImageBuildSettings(repo=compiled.repo, out_dir=compiled.out_dir) == compiled
    monkeypatch.setenv("MESHPIPE_COMPILE", "0")
    pure = ImageBuildSettings(repo=compiled.repo, out_dir=compiled.out_dir)
    assert pure == replace(compiled, compiled=False)
    assert inputs_digest(compiled, "meshproxy") != inputs_digest(pure, "meshproxy")
    assert inputs_digest(compiled, "kafka") == inputs_digest(pure, "kafka")
