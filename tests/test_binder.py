"""Binder: a fresh environment built from binder/ the way repo2docker builds it runs a tutorial.

repo2docker (Python buildpack, runtime.txt ``python-3.11``) creates a Python 3.11 environment
holding its own Jupyter stack (``environment.py-3.11.yml``: jupyterlab 4, notebook 7,
ipywidgets 8, jupyter_server 2), then runs ``pip install -r binder/requirements.txt`` from the
repository root. This test does the same in a new ``python -m venv`` (PyPI is the only network
it needs), then executes a tutorial with that environment's ``jupyter nbconvert --execute``.
Slow (a minute or more, mostly downloads): one environment, one notebook.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOK = ROOT / "notebooks" / "01_pcie_vs_nvlink.ipynb"
LOG = ROOT / "test-artifacts" / "binder-pip.log"
# What repo2docker's Python 3.11 environment already holds before requirements.txt
# (repo2docker/buildpacks/conda/environment.py-3.11.yml).
REPO2DOCKER_BASE = ["jupyterlab==4.*", "notebook==7.*", "ipywidgets==8.*", "jupyter_server==2.*"]


def runtime_version() -> tuple[int, int]:
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", text)
    assert m, f"binder/runtime.txt must read python-X.Y, not {text!r}"
    return int(m.group(1)), int(m.group(2))


def requirement_lines() -> list[str]:
    lines = [l.split("#")[0].strip() for l in (BINDER / "requirements.txt").read_text().splitlines()]
    return [l for l in lines if l]


def test_binder_files_pin_versions_and_install_the_project():
    lines = requirement_lines()
    assert "." in lines, "the line '.' installs this project (pip runs from the repository root)"
    pins = [l for l in lines if l != "."]
    loose = [l for l in pins if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", l)]
    assert not loose, f"unpinned requirements: {loose}"
    names = {re.split("==", l)[0].lower().replace("_", "-") for l in pins}
    assert {"ipywidgets", "bqplot", "numpy", "pandas", "traitlets"} <= names
    assert runtime_version() >= (3, 10)


def interpreter() -> str:
    want = runtime_version()
    if sys.version_info[:2] == want:
        return sys.executable
    exe = shutil.which(f"python{want[0]}.{want[1]}")
    if not exe:
        pytest.skip(f"binder/runtime.txt asks for Python {want[0]}.{want[1]}, not found here")
    return exe


def pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15).close()
        return True
    except OSError:
        return False


def run(cmd, log, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    log.write(f"$ {' '.join(map(str, cmd))}\n{p.stdout}\n{p.stderr}\n")
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{p.stderr[-3000:]}"
    return p.stdout + p.stderr


def test_fresh_binder_environment_runs_a_tutorial(tmp_path):
    if os.environ.get("NEXORA_SKIP_BINDER") == "1":
        pytest.skip("NEXORA_SKIP_BINDER=1")
    python = interpreter()
    if not pypi_reachable():
        pytest.skip("PyPI is not reachable: cannot build the Binder environment")
    venv = tmp_path / "binder-env"
    bin_ = venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "JUPYTER"))}
    env.update(PATH=f"{bin_}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"))
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("w") as log:
        run([python, "-m", "venv", str(venv)], log, timeout=300)
        pip = [str(bin_ / "python"), "-m", "pip", "install", "--no-input", "--progress-bar", "off"]
        run(pip + REPO2DOCKER_BASE, log, env=env, timeout=1200)
        run(pip + ["-r", "binder/requirements.txt"], log, env=env, cwd=ROOT, timeout=1200)
        run([str(bin_ / "python"), "-m", "pip", "check"], log, env=env, timeout=300)

        # the package is installed into the environment, not borrowed from the checkout
        where = run([str(bin_ / "python"), "-c",
                     "import kernel_model, nexora_widgets; print(kernel_model.__file__); "
                     "print(nexora_widgets.__file__)"], log, env=env, cwd=tmp_path, timeout=120)
        assert all(Path(p).is_relative_to(venv) for p in where.split()), where

        # JupyterLab in that environment finds the widget front-ends
        ext = run([str(bin_ / "jupyter"), "labextension", "list"], log, env=env, timeout=120)
        ext = re.sub(r"\x1b\[[0-9;]*m", "", ext)
        for name in ("@jupyter-widgets/jupyterlab-manager", "bqplot"):
            assert (venv / "share" / "jupyter" / "labextensions" / name / "package.json").exists(), name
            assert re.search(re.escape(name) + r"\s+v\S+\s+enabled\s+OK", ext), ext[-2000:]

        # execute the tutorial with the environment's own nbconvert and kernel
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
        src = tmp_path / NOTEBOOK.name
        nbformat.write(nb, src)
        run([str(bin_ / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
             "--ExecutePreprocessor.kernel_name=python3", "--ExecutePreprocessor.timeout=120",
             "--ExecutePreprocessor.store_widget_state=True", "--output", "executed.ipynb", str(src)],
            log, env=env, cwd=tmp_path, timeout=600)
    out = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    prefix = out.cells[0].outputs[0]["text"].strip()
    assert Path(prefix).resolve() == venv.resolve(), f"kernel ran in {prefix}, not the Binder env"
    errors = [o for c in out.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, [f"{o.ename}: {o.evalue}" for o in errors]
    state = out.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(v["model_module"] == "bqplot" and v["model_name"] == "FigureModel" for v in state.values())
    # the conclusions match the ones stored in the repository (same physics, same pins)
    def checked(book):
        return [json.dumps([o.get("text", "") for o in c.outputs]) for c in book.cells
                if c.cell_type == "code" and c.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked(out) == checked(nbformat.read(NOTEBOOK, as_version=4))
