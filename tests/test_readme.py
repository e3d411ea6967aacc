"""The README stays true: its set-up commands match .ci/run, and its Python examples run."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_first_lines_are_the_two_newcomer_commands_and_ci_runs_the_same_test_command():
    block = README.split("```")[1].splitlines()
    commands = [line.split("#")[0].strip() for line in block[1:] if line.strip()]
    assert len(commands) == 2
    open_cmd, test_cmd = commands
    assert open_cmd.startswith("pip install -e") and "notebooks/00_dashboard.ipynb" in open_cmd
    assert test_cmd.startswith("pip install -e") and "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci
    assert "chromium" in ci


def test_python_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)                     # the examples use paths from the repo root
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 3
    spaces = []
    for code in blocks:
        namespace = {}
        exec(compile(code, "README.md", "exec"), namespace)
        spaces.append(namespace)
    # the Python section's result objects are real
    res = next(ns["res"] for ns in spaces if "res" in ns)
    assert res.tpot_s > 0 and res.fits
    # the serving section's run served its requests
    r = next(ns["r"] for ns in spaces if "serve" in ns)
    assert r.summary["requests"] == 2000 and r.summary["output_tokens_per_s"] > 0


def test_readme_has_no_placeholder_links():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "OWNER" not in text and "mybinder.org/v2/gh/" not in text
    assert "lab/tree/notebooks/00_dashboard.ipynb" in text       # how to launch it on Binder


def test_readme_calibration_table_shows_the_shipped_values():
    """The table under "### Calibration" rounds the values `DEFAULT` ships, no stale fit."""
    from kernel_model.calibration import DEFAULT
    rows = dict(re.findall(r"^\| (\w+) \| ([^|]+) \|", README, flags=re.M))
    for field in ("flops_efficiency", "attention_efficiency", "hbm_efficiency", "roofline_exponent"):
        shown = rows[field].strip()
        digits = len(shown.split(".")[1])
        assert float(shown) == round(getattr(DEFAULT, field), digits), field
    for field in ("launch_overhead_s", "collective_overhead_s"):
        us = float(re.match(r"([\d.]+) µs", rows[field]).group(1))
        assert us == round(getattr(DEFAULT, field) * 1e6, 1), field
    vllm = float(re.search(r"vLLM: ([\d.]+) µs", rows["launch_overhead_s"]).group(1))
    assert vllm == round(DEFAULT.runtimes["vllm"]["launch_overhead_s"] * 1e6, 1)
    assert float(rows["eager_server_step_s"].split()[0]) == round(DEFAULT.eager_server_step_s * 1e3, 2)
