"""Packaging: the wheel holds only chainrule/ and its dist-info; the licence ships in the wheel and the sdist; the
sdist holds what its own test suite needs and that suite passes from it; HIPS autograd and chainrule live side by
side in one environment, installed in either order; the editable install exposes nothing but chainrule.

The scratch environments are made without pip (``venv --without-pip``) and filled by this interpreter's pip
(``pip --python``) from a folder of wheels collected once, with ``--no-index``, so each costs seconds.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
VERSION = metadata.version("chainrule")
DIST_INFO = f"chainrule-{VERSION}.dist-info"


def _run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; fail with its output if it fails."""
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clean_env() -> dict[str, str]:
    """This process's environment without what would leak this venv into a scratch one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _pip(venv: Path, *args: str | Path) -> str:
    """This interpreter's pip, acting on the scratch venv."""
    return _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", *args, env=_clean_env())


def _venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", "--without-pip", path)
    return path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and, built from it, the wheel (``python -m build``, with this venv's setuptools)."""
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=ROOT)
    return out


def _sdist(dist: Path) -> Path:
    (sdist,) = dist.glob("chainrule-*.tar.gz")
    return sdist


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("chainrule-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_holds_only_chainrule_and_its_dist_info(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = wheel.namelist()
        top = {name.split("/", 1)[0] for name in names}
        assert top == {"chainrule", DIST_INFO}
        for package in ("autograd", "nn", "viz"):
            assert f"chainrule/{package}/__init__.py" in names
            assert f"chainrule/{package}/py.typed" in names
        for module in ("__init__.py", "__main__.py", "differences_from_pytorch.py", "py.typed"):
            assert f"chainrule/{module}" in names
        assert wheel.read(f"{DIST_INFO}/top_level.txt").decode().split() == ["chainrule"]
        assert wheel.read(f"{DIST_INFO}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        meta = email.message_from_bytes(wheel.read(f"{DIST_INFO}/METADATA"))
    assert meta["License-Expression"] == "MIT"
    assert meta["License-File"] == "LICENSE"
    assert meta["Name"] == "chainrule" and meta["Version"] == VERSION
    assert meta["Author"] or meta["Author-email"]
    assert "autograd" in meta["Keywords"]
    assert "Typing :: Typed" in meta.get_all("Classifier")


def _sdist_names(dist: Path) -> set[str]:
    with tarfile.open(_sdist(dist)) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def _tracked_files() -> set[str]:
    return set(_run("git", "ls-files", cwd=ROOT).split())


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout the sdist is made from")
def test_sdist_holds_every_tracked_file_and_the_licence(dist: Path) -> None:
    names = _sdist_names(dist)
    assert "LICENSE" in names and "PKG-INFO" in names
    missing = _tracked_files() - names
    assert not missing, sorted(missing)
    # What the sdist's own suite reads: the notebooks and their sources, CI's scripts, the benchmarks.
    for needed in ("notebooks/01_neuron.ipynb", "notebooks/src/01_neuron.py", ".ci/run", ".ci/typecheck",
                   ".ci/docs.py", "benchmarks/__init__.py", "tests/conftest.py", "README.md"):
        assert needed in names
    assert not any(name.startswith((".venv/", "build/", ".git/")) for name in names)


def test_editable_install_exposes_only_chainrule(tmp_path: Path) -> None:
    """This suite's own venv: the editable install maps chainrule.* and adds no top-level autograd, nn or viz."""
    script = textwrap.dedent("""
        import importlib.util, json
        import chainrule, chainrule.autograd, chainrule.nn, chainrule.viz
        print(json.dumps({
            "autograd": chainrule.autograd.__file__,
            "top": {name: importlib.util.find_spec(name) is not None for name in ("autograd", "nn", "viz")},
        }))
    """)
    # From a scratch directory: the repository root on sys.path would make ./autograd importable.
    found = json.loads(_run(sys.executable, "-c", script, cwd=tmp_path, env=_clean_env()))
    assert Path(found["autograd"]) == ROOT / "autograd" / "__init__.py"
    assert found["top"] == {"autograd": False, "nn": False, "viz": False}
    top_level = (metadata.distribution("chainrule").read_text("top_level.txt") or "").split()
    assert top_level in ([], ["chainrule"])


# --- HIPS autograd beside chainrule -------------------------------------------------------------------------------

BOTH_WORK = textwrap.dedent("""
    import json, math
    import autograd.numpy as anp
    from autograd import grad as hips_grad
    import autograd as hips
    from chainrule import Value
    import chainrule.autograd

    x = Value(0.5, label="x")
    y = (x * x + x).tanh()
    y.backward()
    t = math.tanh(0.75)
    assert abs(x.grad - (1 - t * t) * 2.0) < 1e-12, x.grad
    d = hips_grad(anp.tanh)(1.0)
    assert abs(d - (1 - math.tanh(1.0) ** 2)) < 1e-12, d
    print(json.dumps({"hips": hips.__file__, "ours": chainrule.autograd.__file__, "ours_grad": x.grad, "hips_grad": d}))
""")

CHAINRULE_ONLY = textwrap.dedent("""
    import importlib.util
    from chainrule import Value
    x = Value(2.0)
    (x * x).backward()
    assert x.grad == 4.0
    assert importlib.util.find_spec("autograd") is None  # no empty namespace package left behind
""")

HIPS_ONLY = textwrap.dedent("""
    import importlib.util
    import autograd.numpy as anp
    from autograd import grad
    assert abs(grad(anp.tanh)(1.0) - 0.41997434161402614) < 1e-12
    assert importlib.util.find_spec("chainrule") is None
""")


def _runtime_pins(dist: Path) -> list[str]:
    """chainrule's runtime requirements (from the wheel's metadata), pinned to the versions this venv has."""
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        meta = email.message_from_bytes(wheel.read(f"{DIST_INFO}/METADATA"))
    names = [Requirement(r).name for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert "numpy" in names
    return [f"{name}=={metadata.version(name)}" for name in names]


@pytest.fixture(scope="module")
def wheelhouse(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our wheel, HIPS autograd, and our runtime dependencies at the versions this venv has (from pip's cache)."""
    house = tmp_path_factory.mktemp("wheelhouse")
    (house / _wheel(dist).name).write_bytes(_wheel(dist).read_bytes())
    _run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", house, "autograd",
         *_runtime_pins(dist), env=_clean_env())
    return house


def _install(venv: Path, house: Path, *requirements: str) -> None:
    _pip(venv, "install", "--quiet", "--no-compile", "--no-index", "--find-links", house, *requirements)


def _python(venv: Path, script: str, cwd: Path) -> str:
    return _run(venv / "bin" / "python", "-c", script, cwd=cwd, env=_clean_env())


@pytest.mark.slow
@pytest.mark.parametrize("first", ["autograd", "chainrule"])
def test_hips_autograd_and_chainrule_side_by_side(first: str, wheelhouse: Path, tmp_path: Path) -> None:
    venv = _venv(tmp_path / "venv")
    second = "chainrule" if first == "autograd" else "autograd"
    _install(venv, wheelhouse, first)
    _install(venv, wheelhouse, second)
    found = json.loads(_python(venv, BOTH_WORK, cwd=tmp_path))
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert Path(found["hips"]) == site / "autograd" / "__init__.py"
    assert Path(found["ours"]) == site / "chainrule" / "autograd" / "__init__.py"
    _pip(venv, "check")
    # Uninstalling the one installed first leaves the other whole.
    _pip(venv, "uninstall", "--yes", "--quiet", first)
    _python(venv, HIPS_ONLY if first == "chainrule" else CHAINRULE_ONLY, cwd=tmp_path)


# --- the sdist's own test suite -------------------------------------------------------------------------------------


@pytest.fixture
def unpacked_sdist(dist: Path, tmp_path: Path) -> Iterator[Path]:
    with tarfile.open(_sdist(dist)) as tar:
        tar.extractall(tmp_path, filter="data")
    (tree,) = tmp_path.glob("chainrule-*")
    yield tree


@pytest.mark.slow
def test_sdist_test_suite_passes_from_the_unpacked_tree(
    unpacked_sdist: Path, wheelhouse: Path, dist: Path, tmp_path: Path
) -> None:
    """Install the unpacked sdist editable, as its user would, collect every test from it and run the fast ones
    that read the repository's files.

    chainrule is the sdist's, built by its own build backend (with build isolation: its build requirements
    must be enough), and its runtime dependencies are installed into the scratch venv (graphviz-pure's program
    must sit beside its Python). The test tools come from this venv, by a .pth line that adds its
    site-packages after the scratch venv's own, so they are not installed again. (Editable, because
    ``python -m pytest`` puts the tree on sys.path, and its chainrule/ lacks the subpackages that a regular
    install maps into it.) Every test module is collected (so each imports and finds its own files); the
    fast tests of the modules that read files outside the package (the CLI, README, docs, notebooks, .ci,
    packaging) run, with the engine's as a sample of the rest: the other modules need no file of the sdist
    beyond their own, and the main run runs them (running all of them again here cost CI about two minutes).
    """
    tree = unpacked_sdist
    assert not (tree / ".git").exists()
    venv = _venv(tmp_path / "venv")
    _install(venv, wheelhouse, *_runtime_pins(dist))
    _pip(venv, "install", "--quiet", "--no-compile", "--no-deps", "--editable", tree)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "zz-test-tools.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    where = _python(venv, "import chainrule.autograd; print(chainrule.autograd.__file__)", cwd=tmp_path).strip()
    assert Path(where) == tree / "autograd" / "__init__.py"

    env = _clean_env() | {"CHAINRULE_HYPOTHESIS": "quick"}
    modules = sorted(p.name for p in (tree / "tests").glob("test_*.py"))
    assert modules == sorted(p.name for p in Path(__file__).parent.glob("test_*.py"))
    reading = ["test_cli.py", "test_docs.py", "test_notebooks.py", "test_packaging.py", "test_readme.py",
               "test_typecheck.py", "test_engine.py"]
    assert set(reading) <= set(modules)
    # One pytest run collects every module (a module that fails to import is a collection error, which fails
    # the run) and deselects the tests of those that read no file beyond their own.
    others = [arg for name in modules if name not in reading for arg in ("--deselect", f"tests/{name}::")]
    result = subprocess.run(
        [venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "-m", "not slow and not torch",
         "tests", *others],
        cwd=tree, env=env, capture_output=True, text=True, timeout=1200,
    )
    tail = "\n".join(result.stdout.splitlines()[-15:])
    assert result.returncode == 0, tail + result.stderr[-3000:]
    last = tail.splitlines()[-1]
    assert " passed" in last and " deselected" in last and "error" not in last, tail
