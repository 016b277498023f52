"""The output folder holds one run's result, always (planner.outputs.staging, locking).

Unit tests drive :func:`staged_output` with small writers; the end-to-end tests run
``planner`` in a subprocess and kill it (SIGKILL) at every point of the output step, then
check the folder byte for byte against the previous complete result.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import SCENARIO, tiny_frames

from planner.errors import PlannerError
from planner.outputs import staging
from planner.outputs.locking import output_lock
from planner.outputs.staging import MARKER, clean_leftovers, staged_output
from planner.outputs.writers import write_grid_outputs, write_outputs
from planner.pipeline import grid_plan, run
from planner.plan import Plan
from planner.scenario import load_scenario

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and locks")


# ---------------------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) → its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Staging and old-result folders beside ``folder``, temporary folders inside it."""
    beside = [
        p.name
        for p in folder.parent.iterdir()
        if p.name.startswith(f".{folder.name}.") and not p.name.endswith(".lock")
    ]
    inside = (
        [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] if folder.is_dir() else []
    )
    return sorted(beside + inside)


def marker(folder: Path) -> dict:
    return json.loads((folder / MARKER).read_text(encoding="utf-8"))


def assert_complete(folder: Path) -> None:
    """The marker lists exactly the files of the folder, with their sizes."""
    files = marker(folder)["files"]
    present = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    assert sorted(files) == present
    for name, entry in files.items():
        assert entry["bytes"] == (folder / name).stat().st_size, name


def fake_write(folder: Path, files: dict[str, str], *, command: str = "run") -> None:
    """A command writing ``files`` (name → text) through the staging folder."""
    with staged_output(folder, command=command, scenario="s") as stage:
        assert stage != folder and stage.parent == folder.parent
        for name, text in files.items():
            (stage / name).write_text(text, encoding="utf-8")


def texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name != MARKER}


RUN_FILES = {"coverage.gpkg": "c1", "summary.json": "{}", "grids.gpkg": "g1", "audit.csv": "a"}


# ---------------------------------------------------------------------------- staging


def test_folder_is_replaced_only_when_everything_is_written(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    before = snapshot(out)
    with staged_output(out, command="run", scenario="s") as stage:
        (stage / "coverage.gpkg").write_text("c2", encoding="utf-8")
        assert snapshot(out) == before  # the previous result, untouched while writing
    assert texts(out) == {"coverage.gpkg": "c2"}  # run's own old files are gone
    assert_complete(out)
    assert leftovers(out) == []
    assert marker(out)["files"]["coverage.gpkg"]["command"] == "run"


def test_failure_keeps_previous_result_and_removes_staging(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    before = snapshot(out)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the middle of writing
        with staged_output(out, command="run") as stage:
            (stage / "coverage.gpkg").write_text("half", encoding="utf-8")
            raise KeyboardInterrupt
    assert snapshot(out) == before and leftovers(out) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only file system"),
    ],
)
def test_write_errors_become_planner_errors(tmp_path: Path, code: int, words: str):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    before = snapshot(out)
    with pytest.raises(PlannerError) as caught:
        with staged_output(out, command="run") as stage:
            raise OSError(code, os.strerror(code), str(stage / "map.html"))
    text = str(caught.value)
    assert words in text.lower() and str(out) in text and "(map.html)" in text
    assert "the previous result is kept" in text
    assert snapshot(out) == before and leftovers(out) == []


def test_first_run_failure_leaves_no_folder(tmp_path: Path):
    out = tmp_path / "new" / "out"
    with pytest.raises(PlannerError, match="nothing was written"):
        with staged_output(out, command="run"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not out.exists() and leftovers(out) == []


def test_swap_without_atomic_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    fake_write(out, {"coverage.gpkg": "c2"})
    assert texts(out) == {"coverage.gpkg": "c2"} and leftovers(out) == []
    before = snapshot(out)
    real = os.rename

    def rename(src, dst):  # the second rename (staging → out) fails
        if ".staging-" in os.fspath(src):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), os.fspath(dst))
        real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(PlannerError, match="device or resource busy"):
        fake_write(out, {"coverage.gpkg": "c3"})
    assert snapshot(out) == before and leftovers(out) == []  # the old result was put back


def test_exchange_swaps_two_folders(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a", encoding="utf-8")
    (b / "x").write_text("b", encoding="utf-8")
    if not staging._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) not available here")
    assert (a / "x").read_text(encoding="utf-8") == "b"
    assert (b / "x").read_text(encoding="utf-8") == "a"


def test_permissions_of_the_folder_are_kept(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    assert out.stat().st_mode & 0o777 == 0o777 & ~_umask()  # not mkdtemp's 0o700
    out.chmod(0o750)
    fake_write(out, RUN_FILES)
    assert out.stat().st_mode & 0o777 == 0o750


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------- commands


def test_each_command_replaces_its_own_files_and_keeps_the_others(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    fake_write(out, {"grids.gpkg": "g2", "grids_by_village.csv": "v"}, command="grids")
    assert texts(out) == {**RUN_FILES, "grids.gpkg": "g2", "grids_by_village.csv": "v"}
    fake_write(out, {"inspection.csv": "i1", "inspection.gpkg": "i1"}, command="inspect")
    fake_write(out, {"inspection.csv": "i2"}, command="inspect")  # a round without the gpkg
    fake_write(out, {"compare.csv": "k"}, command="compare")
    files = marker(out)["files"]
    assert {n: e["command"] for n, e in files.items()} == {
        "coverage.gpkg": "run", "summary.json": "run", "audit.csv": "run",
        "grids.gpkg": "grids", "grids_by_village.csv": "grids", "inspection.csv": "inspect",
        "compare.csv": "compare",
    }  # fmt: skip
    # run rewrites everything but the files of inspect and compare (grids included)
    fake_write(out, {"coverage.gpkg": "c2", "summary.json": "{}"})
    assert texts(out) == {
        "coverage.gpkg": "c2", "summary.json": "{}", "inspection.csv": "i2", "compare.csv": "k",
    }  # fmt: skip
    assert_complete(out)


def test_kept_files_are_the_same_bytes(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, {"coverage.gpkg": "x" * 10_000, "summary.json": "{}"})
    before = snapshot(out)
    written = marker(out)["files"]["coverage.gpkg"]
    fake_write(out, {"grids.gpkg": "g"}, command="grids")
    after = snapshot(out)
    assert after["coverage.gpkg"] == before["coverage.gpkg"]
    assert marker(out)["files"]["coverage.gpkg"] == written  # still attributed to run


# ---------------------------------------------------------------------------- marker


def test_folder_without_marker_is_refused(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "villages.shp").write_bytes(b"mine")
    (data / "grids.shp").write_bytes(b"mine too")
    with pytest.raises(PlannerError, match="holds files the planner did not write") as caught:
        fake_write(data, RUN_FILES)
    assert str(data) in str(caught.value) and "grids.shp, villages.shp" in str(caught.value)
    assert sorted(p.name for p in data.iterdir()) == ["grids.shp", "villages.shp"]
    assert leftovers(data) == []


def test_files_the_marker_does_not_list_are_refused(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    (out / "my notes.docx").write_bytes(b"x")
    with pytest.raises(PlannerError, match=r"did not write \(my notes\.docx\)"):
        fake_write(out, RUN_FILES)
    assert (out / "my notes.docx").exists()


def test_side_files_of_open_programs_are_not_foreign(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    for name in ("~$summary.xlsx", "coverage.gpkg-wal", ".~lock.summary.xlsx#"):
        (out / name).write_bytes(b"")
    fake_write(out, {"summary.json": "{}"})
    assert texts(out) == {"summary.json": "{}"}


def test_result_of_an_older_planner_is_replaced(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("summary.json", "coverage.gpkg", "audit.csv", "map.html"):
        (out / name).write_text("old", encoding="utf-8")
    (out / ".coverage.gpkg.abc123.tmp").mkdir()  # left by an older run that died
    fake_write(out, {"summary.json": "{}"})
    assert texts(out) == {"summary.json": "{}"} and leftovers(out) == []


def test_empty_folder_and_a_file_as_out_dir(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    fake_write(out, {"summary.json": "{}"})
    assert_complete(out)
    file = tmp_path / "f"
    file.write_text("x", encoding="utf-8")
    with pytest.raises(PlannerError, match="is a file"):
        fake_write(file, {"summary.json": "{}"})


# ---------------------------------------------------------------------------- leftovers


def test_leftovers_of_dead_runs_are_cleaned(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    dead = [tmp_path / ".out.staging-99999-abcd", tmp_path / ".out.old-99999-ef01"]
    for folder in dead:
        folder.mkdir()
        (folder / "coverage.gpkg").write_text("partial", encoding="utf-8")
    (out / ".map.html.x1y2.tmp").mkdir()
    other = tmp_path / ".out2.staging-99999-abcd"  # another folder's: not ours to clean
    other.mkdir()
    assert len(leftovers(out)) == 3
    fake_write(out, {"summary.json": "{}"})
    assert leftovers(out) == [] and other.exists()


def test_death_between_the_two_renames_is_repaired(tmp_path: Path):
    out = tmp_path / "out"
    fake_write(out, RUN_FILES)
    before = snapshot(out)
    old = tmp_path / ".out.old-12345-abcd"
    out.rename(old)  # what a run killed between its two renames leaves
    with output_lock(out):
        assert out in clean_leftovers(out)
    assert snapshot(out) == before and leftovers(out) == []


# ---------------------------------------------------------------------------- lock


def test_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path):
    out = tmp_path / "out"
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with staged_output(out, command="run") as stage:
            (stage / "summary.json").write_text("{}", encoding="utf-8")
            holding.set()
            release.wait(60)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert holding.wait(60)
        with pytest.raises(PlannerError, match=f"another planner run is writing to {out}"):
            fake_write(out, RUN_FILES)
    finally:
        release.set()
        thread.join()
    assert texts(out) == {"summary.json": "{}"}
    fake_write(out, RUN_FILES)  # free again
    assert texts(out) == RUN_FILES


def test_lock_is_reentrant_in_one_thread(tmp_path: Path):
    out = tmp_path / "out"
    with output_lock(out), output_lock(out):
        fake_write(out, RUN_FILES)
    assert texts(out) == RUN_FILES


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path):
    out = tmp_path / "out"
    code = (
        "import os, signal, sys\n"
        "from planner.outputs.locking import output_lock\n"
        "with output_lock(sys.argv[1]):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(out)], check=False)
    assert result.returncode == -signal.SIGKILL
    assert (tmp_path / ".out.lock").read_text(encoding="ascii").isdigit()  # it held it
    fake_write(out, RUN_FILES)
    assert texts(out) == RUN_FILES


# ---------------------------------------------------------------------------- real writers


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("region")
    for kind, frame in tiny_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    path = folder / "scenario.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plan(region: Path) -> Plan:
    return run(load_scenario(region))


def test_write_outputs_returns_final_paths(plan: Plan, tmp_path: Path):
    out = tmp_path / "out"
    written = write_outputs(plan, out)
    assert written and all(p.parent == out and p.is_file() for p in written.values())
    assert_complete(out)
    assert {p.name for p in written.values()} <= set(marker(out)["files"])


def test_run_writes_final_summary_into_the_result(region: Path, tmp_path: Path):
    out = tmp_path / "out"
    plan = run(load_scenario(region))
    write_outputs(plan, out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "write outputs" in summary["timings"] and summary["peak_memory_mb"] > 0
    assert summary["levels"] == json.loads(json.dumps(plan.summary["levels"]))
    assert_complete(out)
    assert leftovers(out) == []
    scenario = load_scenario(region)
    step = grid_plan(scenario)
    write_grid_outputs(step, out, scenario=scenario)
    assert step.grids is not None
    commands = {n: e["command"] for n, e in marker(out)["files"].items()}
    assert commands["grids.gpkg"] == commands["grids_by_village.csv"] == "grids"
    assert commands["coverage.gpkg"] == commands["summary.json"] == "run"
    assert "grids.csv" not in commands  # the run's grid table is a grid file too


@pytest.fixture(scope="module")
def written(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A result of :func:`write_outputs` and how many files it moved into place."""
    out = tmp_path_factory.mktemp("written") / "out"
    real, seen = os.replace, []

    def replace(src, dst):
        seen.append(dst)
        real(src, dst)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", replace)
        write_outputs(plan, out)
    assert len(seen) >= 10
    return out, len(seen)


@pytest.mark.parametrize("point", ["1", "middle", "last", "marker", "swap"])
def test_full_disk_at_several_points_keeps_the_previous_result(
    plan: Plan, written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
):
    out = _copy_result(written[0], tmp_path)
    before = snapshot(out)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if point in ("marker", "swap"):
        name = {"marker": "_write_marker", "swap": "_exchange"}[point]
        monkeypatch.setattr(staging, name, _raiser(full))
    else:
        at = {"1": 1, "middle": written[1] // 2, "last": written[1]}[point]
        real, seen = os.replace, []

        def replace(src, dst):
            seen.append(dst)
            if len(seen) == at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(dst))
            real(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PlannerError, match="no space left on device") as caught:
        write_outputs(plan, out)
    assert str(out) in str(caught.value)
    assert snapshot(out) == before and leftovers(out) == []


def _raiser(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc

    return fail


def _copy_result(previous: Path, to: Path) -> Path:
    out = to / "out"
    shutil.copytree(previous, out)
    return out


def planner(*args: str, cwd: Path, code: str = "", limit: int | None = None):
    """``planner ARGS`` in a subprocess; ``code`` runs before the CLI (a patch)."""
    cli = "import sys\nfrom planner.cli import main\nsys.argv = ['planner', *sys.argv[1:]]\nmain()"
    script = f"{code}\n{cli}\n"
    env = {**os.environ, "COLUMNS": "200", "PLANNER_QUIET": "1"}

    def cap() -> None:  # files larger than the limit fail to write (EFBIG)
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        preexec_fn=cap,
    )


@pytest.mark.parametrize("limit", ["120000", pytest.param("largest", marks=pytest.mark.slow)])
def test_real_write_failures_keep_the_previous_result(
    region: Path, tmp_path: Path, previous, limit: str
):
    out = _copy_result(previous[0], tmp_path)
    before = snapshot(out)
    largest = max((out / n).stat().st_size for n in before if n != MARKER)
    # 120 kB: GDAL fails on the GeoPackage; largest - 1: Python on the largest file
    cap = int(limit) if limit.isdigit() else largest - 1
    result = planner("run", str(region), "--out", str(out), cwd=tmp_path, limit=cap)
    assert result.returncode == 2, result.stderr
    assert f"cannot write the outputs to {out}" in result.stderr
    assert "the previous result is kept" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(out) == before and leftovers(out) == []


def test_concurrent_run_is_refused(region: Path, tmp_path: Path):
    out = tmp_path / "out"
    with output_lock(out):
        result = planner("run", str(region), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert f"another planner run (process {os.getpid()}) is writing to {out}" in result.stderr
    assert not out.exists() and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- SIGKILL

#: A patch that SIGKILLs the run at a chosen point of the output step: the N-th file
#: moved into place (``replace N``), on entering the swap, between the two renames of the
#: swap without the atomic exchange, or right after the exchange.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import planner.outputs.staging as staging
    point, n = os.environ["KILL_POINT"], int(os.environ.get("KILL_N", "0"))
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "count":
        import atexit
        real_replace, calls = os.replace, []
        def counting(src, dst):
            calls.append(dst)
            real_replace(src, dst)
        os.replace = counting
        atexit.register(lambda: print(f"REPLACES={len(calls)}"))
    elif point == "replace":
        real_replace, calls = os.replace, []
        def replace(src, dst):
            calls.append(dst)
            if len(calls) == n:
                die()
            real_replace(src, dst)
        os.replace = replace
    elif point == "swap":
        staging._swap = die
    elif point in ("between", "after rename"):
        staging._exchange = lambda a, b: False
        real_rename = os.rename
        def rename(src, dst):
            if ".staging-" in os.fspath(src):
                if point == "between":
                    die()
                real_rename(src, dst)
                die()
            real_rename(src, dst)
        os.rename = rename
    elif point == "after exchange":
        real_exchange = staging._exchange
        def exchange(a, b):
            if not real_exchange(a, b):
                raise SystemExit("no atomic exchange here")
            die()
        staging._exchange = exchange
    """
)


def killed_run(region: Path, out: Path, point: str, n: int = 0):
    os.environ["KILL_POINT"], os.environ["KILL_N"] = point, str(n)
    try:
        return planner("run", str(region), "--out", str(out), cwd=out.parent, code=KILLER)
    finally:
        del os.environ["KILL_POINT"], os.environ["KILL_N"]


@pytest.fixture(scope="module")
def previous(region: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A complete result of the tiny region and how many files its run moved into place."""
    out = tmp_path_factory.mktemp("previous") / "out"
    result = killed_run(region, out, "count")
    assert result.returncode == 0, result.stderr
    return out, int(result.stdout.split("REPLACES=")[1].split()[0])


def _next_run_completes(region: Path, out: Path, names: set[str]) -> None:
    result = planner("run", str(region), "--out", str(out), cwd=out.parent)
    assert result.returncode == 0, result.stderr
    assert leftovers(out) == []
    assert_complete(out)
    assert set(marker(out)["files"]) == names
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "write outputs" in summary["timings"]


@pytest.mark.slow
def test_killed_first_run_leaves_no_folder(region: Path, tmp_path: Path, previous):
    out, calls = tmp_path / "out", previous[1]
    result = killed_run(region, out, "replace", calls // 2)
    assert result.returncode == -signal.SIGKILL
    assert not out.exists()
    assert [n for n in leftovers(out) if ".staging-" in n]  # it died while writing
    _next_run_completes(region, out, set(marker(previous[0])["files"]))


def _kill_points() -> list:
    """Kill points: files moved into place (by fraction of the count), then the swap."""
    fast = {0.5}
    points: list = [i / 20 for i in range(1, 21)] + [
        "swap", "between", "after rename", "after exchange",
    ]  # fmt: skip
    return [p if p in fast else pytest.param(p, marks=pytest.mark.slow) for p in points]


@pytest.mark.parametrize("point", _kill_points())
def test_killed_run_leaves_the_previous_result(region: Path, tmp_path: Path, previous, point):
    out = _copy_result(previous[0], tmp_path)
    before = snapshot(out)
    names = set(marker(out)["files"])
    if isinstance(point, float):
        result = killed_run(region, out, "replace", max(1, round(point * previous[1])))
    else:
        result = killed_run(region, out, point)
    if "no atomic exchange here" in result.stderr:
        pytest.skip("renameat2(RENAME_EXCHANGE) not available here")
    assert result.returncode == -signal.SIGKILL, result.stderr
    if point in ("after rename", "after exchange"):  # the new result is in place
        assert snapshot(out) != before
        assert_complete(out)
        assert set(marker(out)["files"]) == names
    elif point == "between":  # the folder is gone for a moment: the next run puts it back
        assert not out.exists() and [n for n in leftovers(out) if ".old-" in n]
        again = killed_run(region, out, "replace", 1)  # dies before touching anything
        assert again.returncode == -signal.SIGKILL
        assert snapshot(out) == before
    else:
        assert snapshot(out) == before
    assert leftovers(out)  # what the killed run left, cleaned by the next one
    _next_run_completes(region, out, names)
