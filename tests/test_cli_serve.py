"""``nexora --serve`` (issue 12 item 8) with a real Voila, in bounded time: at most
--serve-max-kernels kernels (the next page gets 503), idle kernels with no page are culled,
and SIGTERM to nexora stops Voila and every kernel it started. Bound to 127.0.0.1."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("voila")
nbformat = pytest.importorskip("nbformat")

from kernel_model.cli.serve import descendants   # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_S = 90          # Voila start-up on a loaded 2-core machine


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return None


def _kernels(pid):
    out = []
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                if b"ipykernel" in fh.read():
                    out.append(p)
        except OSError:
            pass
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.25)
    return cond()


@pytest.fixture
def server(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    procs = []

    def start(max_kernels, cull_s):
        port = _port()
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.Popen([sys.executable, "-m", "kernel_model", "--serve", str(port),
                              "--serve-notebook", str(path), "--serve-max-kernels", str(max_kernels),
                              "--serve-cull-s", str(cull_s)], env=env, cwd=str(tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(p)
        assert _wait(lambda: _get(port) == 200 or p.poll() is not None, START_S) and p.poll() is None, \
            p.stderr.read().decode() if p.poll() is not None else "Voila did not answer"
        return p, port

    yield start
    for p in procs:                       # never leave a server behind, whatever failed
        tree = descendants(p.pid)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        for pid in tree:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def test_serve_caps_kernels_binds_localhost_and_sigterm_stops_everything(server):
    p, port = server(max_kernels=2, cull_s=600)
    assert _get(port) == 200                          # the start-up probe made kernel 1, this is 2
    assert _wait(lambda: len(_kernels(p.pid)) == 2, 20)
    assert _get(port) == 503                          # a third page: refused, no third kernel
    assert len(_kernels(p.pid)) == 2
    tree = descendants(p.pid)
    voila = [t for t in tree if t not in _kernels(p.pid)]
    listening = open("/proc/net/tcp").read().lower()
    assert f"0100007f:{port:04x}" in listening and f"00000000:{port:04x}" not in listening
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    assert _wait(lambda: not any(_alive(t) for t in tree), 15), [t for t in tree if _alive(t)]
    assert time.monotonic() - t0 < 30 and voila


def test_serve_culls_idle_kernels_without_a_page(server):
    p, port = server(max_kernels=4, cull_s=2)
    assert _wait(lambda: len(_kernels(p.pid)) >= 1, 20)
    assert _wait(lambda: len(_kernels(p.pid)) == 0, 30), "idle kernel not culled"
    assert _get(port) == 200                          # a new page still works afterwards
    tree = descendants(p.pid)
    p.send_signal(signal.SIGINT)                      # Ctrl-C: the same clean stop
    assert p.wait(20) == 0
    assert _wait(lambda: not any(_alive(t) for t in tree), 15)
