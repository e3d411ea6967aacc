"""Issue 12, command-line items: nothing the user did not name is overwritten, nothing hangs,
JSON is always valid, and what the help and output say is right."""
import json
import os
import sys
import threading
import time

import pytest

import kernel_model as km
from kernel_model import cli
from kernel_model.cli import files
from kernel_model.validate import find_measurements


def run(capsys, *args):
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err, *needles):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nexora") and "Traceback" not in err
    assert lines[0].count("error:") == 1, lines[0]          # no doubled prefix
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture
def measurements(tmp_path):
    src = find_measurements()
    lines = open(src, encoding="utf-8").read().splitlines()
    p = tmp_path / "m.csv"
    p.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")     # header + 5 rows: fast
    return p


# ---- 1: data loss ---------------------------------------------------------------------------
def test_validate_refuses_to_write_over_its_input(capsys, measurements):
    before = measurements.read_bytes()
    rc, out, err = run(capsys, "validate", str(measurements), "--csv", str(measurements))
    assert rc == 2
    one_error_line(err, "--csv", "is the input file")
    rc, out, err = run(capsys, "validate", str(measurements), "--fit", "--save-profile",
                       str(measurements), "--force")
    assert rc == 2
    one_error_line(err, "--save-profile", "is the input file")
    assert measurements.read_bytes() == before


def test_validate_outputs_need_force_to_replace_a_file(capsys, measurements, tmp_path):
    out_csv = tmp_path / "out.csv"
    out_csv.write_text("keep me\n")
    rc, out, err = run(capsys, "validate", str(measurements), "--csv", str(out_csv))
    assert rc == 2 and out_csv.read_text() == "keep me\n"
    one_error_line(err, "already exists", "--force")
    rc, out, err = run(capsys, "validate", str(measurements), "--csv", str(out_csv), "--force")
    assert rc == 0, err
    assert out_csv.read_text().startswith("id,") and len(out_csv.read_text().splitlines()) == 6
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_optimize_csv_needs_force_and_names_a_missing_folder(capsys, tmp_path):
    args = ["optimize", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--num-gpus", "2",
            "--batch", "1", "--weight-bits", "16", "--kv-bits", "16", "--overlap", "0"]
    target = tmp_path / "plans.csv"
    target.write_text("old\n")
    rc, out, err = run(capsys, *args, "--csv", str(target))
    assert rc == 2 and target.read_text() == "old\n"
    one_error_line(err, "--csv", "already exists")
    rc, out, err = run(capsys, *args, "--csv", str(target), "--force")
    assert rc == 0 and target.read_text().startswith("model,gpu,interconnect,tp,") and "written to" in out
    rc, out, err = run(capsys, *args, "--csv", "/nonexistent/dir/x.csv")
    assert rc == 2
    one_error_line(err, "--csv", "/nonexistent/dir", "does not exist")


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old contents\n")
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(str(target)) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half a ta")
            raise KeyboardInterrupt
    assert target.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    files.write_text(str(target), "new\n")
    assert target.read_text() == "new\n"


def test_optimize_csv_is_written_through_a_temporary_file(capsys, tmp_path, monkeypatch):
    import pandas as pd
    target = tmp_path / "plans.csv"
    target.write_text("old\n")
    seen = []
    real = pd.DataFrame.to_csv

    def spy(self, path, *a, **k):
        seen.append(str(path))
        assert not os.path.samefile(path, target) if os.path.exists(path) else True
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", spy)
    rc, out, err = run(capsys, "optimize", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb",
                       "--num-gpus", "1", "--batch", "1", "--weight-bits", "16", "--kv-bits", "16",
                       "--overlap", "0", "--csv", str(target), "--force")
    assert rc == 0 and len(seen) == 1 and seen[0] != str(target) and seen[0].endswith(".tmp")
    assert target.read_text().startswith("model,gpu,interconnect,tp,")


# ---- 4: optimize --num-gpus is bounded ----------------------------------------------------------
def test_optimize_num_gpus_is_bounded_and_answers_fast(capsys):
    t0 = time.perf_counter()
    rc, out, err = run(capsys, "optimize", "--num-gpus", "1000000000000")
    assert rc == 2 and time.perf_counter() - t0 < 2
    one_error_line(err, "--num-gpus", "1,000,000")
    for n in ("1000000", "720720"):                  # the limit, and the most divisors below it
        t0 = time.perf_counter()
        rc, out, err = run(capsys, "optimize", "--num-gpus", n, "--json")
        assert rc == 0, err
        assert time.perf_counter() - t0 < 5
        assert json.loads(out)["num_gpus"] == int(n)


# ---- 5: config files must be regular files under a size limit ------------------------------------
def _bounded(fn, seconds=10):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hung"
    return box["v"]


def test_model_path_that_is_a_device_fifo_or_huge_is_refused(capsys, tmp_path):
    rc = _bounded(lambda: cli.main(["--model", "/dev/zero"]))
    assert rc == 2
    one_error_line(capsys.readouterr().err, "--model", "/dev/zero", "not a regular file")
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    rc = _bounded(lambda: cli.main(["--model", str(fifo)]))
    assert rc == 2
    one_error_line(capsys.readouterr().err, "--model", "not a regular file")
    rc = _bounded(lambda: cli.main(["--model", str(tmp_path)]))       # a folder: its config.json
    assert rc == 2
    one_error_line(capsys.readouterr().err, "not a regular file")
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(files.MAX_CONFIG_BYTES + 1)                         # sparse: no disk used
    rc = _bounded(lambda: cli.main(["--model", str(big)]))
    assert rc == 2
    one_error_line(capsys.readouterr().err, "--model", "over the limit")


def test_validate_path_that_is_a_device_or_fifo_is_refused(capsys, tmp_path):
    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    for p in ("/dev/zero", str(fifo)):
        rc = _bounded(lambda: cli.main(["validate", p]))
        assert rc == 2
        one_error_line(capsys.readouterr().err, "not a regular file")


# ---- 16: JSON is always valid; huge inputs are refused ------------------------------------------
def _strict(text):
    def bad(c):
        raise AssertionError(f"invalid JSON constant {c}")
    return json.loads(text, parse_constant=bad)


@pytest.mark.parametrize("value", ["1e307", "1" + "0" * 307, "10000001"])
def test_huge_prompt_is_refused_with_one_line(capsys, value):
    rc, out, err = run(capsys, "--prompt-tokens", value, "--json")
    assert rc == 2 and out == ""
    one_error_line(err, "--prompt-tokens", "10,000,000")


def test_json_at_the_documented_limits_is_valid(capsys):
    rc, out, err = run(capsys, "--prompt-tokens", "10000000", "--output-tokens", "10000000",
                       "--batch-size", "1048576", "--layers", "10000", "--json")
    assert rc == 0, err
    d = _strict(out)
    assert d["fits"] is False and d["tpot_s"] > 0
    rc, out, err = run(capsys, "--prompt-tokens", "10000000", "--json-compat")
    assert rc == 0 and _strict(out)["baseline"]["ns_per_token"] > 0


def test_non_finite_numbers_never_reach_json():
    with pytest.raises(cli.BadInput, match="not a finite number"):
        cli.common.dumps({"x": float("nan")})
    with pytest.raises(cli.BadInput):
        cli.common.dumps({"x": [float("inf")]})


# ---- 26: what the help and the output say --------------------------------------------------------
def test_help_lists_the_subcommands(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    for name in ("optimize", "validate"):
        assert f"nexora {name}" in out.split("options:")[0]


def test_subcommand_registry_is_the_hook_for_other_modules(capsys, monkeypatch):
    import types
    mod = types.ModuleType("fake_sub")
    mod.cli_main = lambda argv: print("ran", argv) or 0
    monkeypatch.setitem(sys.modules, "fake_sub", mod)
    monkeypatch.setattr(cli.commands, "SUBCOMMANDS", dict(cli.commands.SUBCOMMANDS))
    cli.register("fakesub", "fake_sub", "a test subcommand")
    rc, out, _ = run(capsys, "fakesub", "--x", "1")
    assert rc == 0 and out == "ran ['--x', '1']\n"
    rc, out, _ = run(capsys, "--help")
    assert "nexora fakesub" in out and "a test subcommand" in out


def test_ttft_on_one_gpu_names_no_link(capsys):
    rc, out, _ = run(capsys, "--ttft")
    assert rc == 0
    hw = [x for x in out.splitlines() if x.strip().startswith("hardware")][0]
    assert hw.startswith("  hardware    1 x a100-sxm-80gb") and " over " not in hw
    assert "one GPU: no communication" in hw
    rc, out, _ = run(capsys, "--ttft", "--tp", "2")
    hw = [x for x in out.splitlines() if x.strip().startswith("hardware")][0]
    assert "2 x a100-sxm-80gb" in hw and f"over nvlink ({km.get_interconnect('nvlink').bw_gbps:g} GB/s" in hw


def test_optimize_says_it_searches_quantised_weights_and_overlap(capsys):
    rc, out, _ = run(capsys, "optimize", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb",
                     "--num-gpus", "2")
    assert rc == 0
    assert "searched: weights 16-bit, 8-bit, 4-bit; KV cache 16-bit, 8-bit; overlap 0, 0.5" in out
    rc, out, _ = run(capsys, "optimize", "--help")
    assert "8- and 4-bit weights" in out


def test_inter_node_names_its_own_flag(capsys):
    for bad in ("foo", "nvlink"):
        rc, out, err = run(capsys, "--inter-node", bad, "--tp", "16")
        assert rc == 2
        one_error_line(err, f"--inter-node {bad!r}", "auto, ib_hdr or ib_ndr")
        assert "--interconnect:" not in err


def test_validate_without_a_path_uses_the_shipped_file_and_says_so(capsys):
    rc, out, err = run(capsys, "validate")
    assert rc == 0
    assert "no PATH given: using the shipped" in err and find_measurements() in err
    assert "MAPE overall" in out


def test_in_process_runs_leave_the_preset_registries_unchanged(capsys):
    links, gpus = set(km.hardware.INTERCONNECTS), set(km.hardware.GPUS)
    rc, out, err = run(capsys, "--tp", "2", "--bw-gbps", "40", "--memory-bw-gbps", "900", "--json")
    lat_ns = round(km.get_interconnect("nvlink").latency_s * 1e9)      # the default link's latency
    assert rc == 0 and json.loads(out)["scenario"]["interconnect"] == f"custom-40gbps-{lat_ns}ns"
    assert json.loads(out)["scenario"]["gpu"] == "a100-sxm-80gb-hbm900"
    assert set(km.hardware.INTERCONNECTS) == links and set(km.hardware.GPUS) == gpus
