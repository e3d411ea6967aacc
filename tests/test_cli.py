"""The ``nexora`` command: flags of the old tool on the new engine."""
import csv
import io
import json
import os
import re
import subprocess
import sys
import types

import pytest

import kernel_model as km
from kernel_model import cli
from kernel_model.hardware import TYPICAL_GPU, INTERCONNECTS


def run(capsys, *args):
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *args):
    rc, out, err = run(capsys, *args, "--json")
    assert rc == 0, err
    return json.loads(out)


def test_json_is_the_result_of_the_preset_scenario(capsys):
    d = run_json(capsys, "--preset", "pcie4_bad", "--tp", "4")
    sc = km.Scenario(gpu="rtx-4090", interconnect="pcie4_bad", tp=4)
    assert d == json.loads(json.dumps(km.simulate(sc).to_dict()))


def test_issue2_command_line(capsys):
    d = run_json(capsys, "--model", "llama-2-70b", "--gpu", "h100-sxm", "--interconnect", "nvlink4",
                 "--tp", "8", "--batch-size", "1", "--prompt-tokens", "200", "--output-tokens", "200")
    res = km.simulate(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    assert d["tpot_s"] == res.tpot_s and d["scenario"]["tp"] == 8


@pytest.mark.parametrize("preset", sorted(TYPICAL_GPU))
def test_preset_picks_its_typical_gpu_and_gpu_overrides(capsys, preset):
    d = run_json(capsys, "--preset", preset, "--tp", "2")
    assert d["scenario"]["interconnect"] == preset
    assert d["scenario"]["gpu"] == TYPICAL_GPU[preset]
    d2 = run_json(capsys, "--preset", preset, "--gpu", "l40s", "--tp", "2")
    assert d2["scenario"]["gpu"] == "l40s" and d2["scenario"]["interconnect"] == preset


def test_interconnect_keeps_the_gpu_and_gpu_alone_uses_its_native_link(capsys):
    d = run_json(capsys, "--interconnect", "pcie4_bad", "--tp", "2")
    assert d["scenario"]["gpu"] == km.Scenario().gpu
    d = run_json(capsys, "--gpu", "rtx-pro-6000")
    assert d["scenario"]["interconnect"] == km.get_gpu("rtx-pro-6000").native_link


def test_flag_mapping_to_scenario_fields(capsys):
    d = run_json(capsys, "--model", "llama-2-7b", "--tp", "2", "--pp", "2", "--micro-batches", "2",
                 "--batch-size", "4", "--bits", "8", "--group", "3", "--overlap", "0.25",
                 "--layers", "16", "--moe-experts", "8", "--active-experts", "2", "--ep", "2",
                 "--weight-bits", "4", "--kv-bits", "8")
    s = d["scenario"]
    assert (s["comm_bits"], s["comm_group"], s["overlap"], s["layers"]) == (8, 3, 0.25, 16)
    assert (s["moe_experts"], s["active_experts"], s["ep"]) == (8, 2, 2)
    assert (s["pp"], s["micro_batches"], s["batch"], s["weight_bits"], s["kv_bits"]) == (2, 2, 4, 4, 8)
    assert d["tpot_s"] == km.simulate(km.Scenario.from_dict(s)).tpot_s


def test_ctx_len_sets_the_attended_context(capsys):
    s = run_json(capsys, "--ctx-len", "4096")["scenario"]
    assert (s["prompt_tokens"], s["output_tokens"]) == (4096, 1)
    s = run_json(capsys, "--ctx-len", "4096", "--output-tokens", "50")["scenario"]
    assert (s["prompt_tokens"], s["output_tokens"]) == (4096, 50)
    s = run_json(capsys, "--ctx-len", "4096", "--prompt-tokens", "100")["scenario"]
    assert s["prompt_tokens"] == 100
    short = run_json(capsys, "--ctx-len", "512", "--tp", "2")["tpot_s"]
    long = run_json(capsys, "--ctx-len", "16384", "--tp", "2")["tpot_s"]
    assert long > short


def _ms(x):
    return f"{x * 1e3:.3f} ms"


def test_text_output_compares_against_tp1_on_the_same_hardware(capsys):
    rc, out, _ = run(capsys, "--preset", "pcie4_bad", "--tp", "4", "--model", "llama-2-13b")
    assert rc == 0
    res = km.simulate(model="llama-2-13b", gpu="rtx-4090", interconnect="pcie4_bad", tp=4)
    base = km.simulate(model="llama-2-13b", gpu="rtx-4090", interconnect="pcie4_bad", tp=1)
    assert f"TP=4 vs TP=1: {_ms(res.tpot_s)} vs {_ms(base.tpot_s)}" in out
    assert "rtx-4090 over pcie4_bad" in out
    assert res.bottleneck in out and res.insight in out
    assert f"{res.output_tokens_per_s:,.1f} tokens/s" in out
    for cat, v in res.breakdown.items():
        assert re.search(rf"{cat}\s+{v * 1e3:.3f} ms", out), cat
    assert "Time to first token" not in out and "KV cache (cache-aware)" not in out


def test_ttft_and_cache_aware_sections(capsys):
    rc, out, _ = run(capsys, "--preset", "nvlink", "--tp", "8", "--model", "llama-2-70b",
                     "--ttft", "--prompt-tokens", "2000", "--cache-aware")
    res = km.simulate(model="llama-2-70b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=8,
                      prompt_tokens=2000)
    assert f"Time to first token   {_ms(res.ttft_s)}" in out
    for cat, v in res.ttft_breakdown.items():
        assert re.search(rf"{cat}\s+{v * 1e3:.3f} ms", out.split("Prefill breakdown")[1]), cat
    kv, w = res.step_bytes["kv_read"], res.step_bytes["weights_read"]
    assert f"{res.memory['kv_cache'] / 1e9:.3f} GB per GPU" in out
    assert f"KV is {kv / (kv + w):.1%} of that traffic" in out


def test_ascii_bars_are_40_columns(capsys):
    rc, out, _ = run(capsys, "--preset", "pcie4_bad", "--tp", "4", "--ascii")
    bars = re.findall(r"\|([# ]*)\|", out)
    assert len(bars) >= 5 + 3                      # breakdown + TP scaling rows
    assert all(len(b) == 40 for b in bars)
    assert any(b == "#" * 40 for b in bars)
    res = km.simulate(gpu="rtx-4090", interconnect="pcie4_bad", tp=4)
    top = max(res.breakdown, key=res.breakdown.get)
    assert re.search(rf"{top}\s+\|#{{40}}\|", out)


def test_compare_one_row_per_preset(capsys):
    rows = run_json(capsys, "--compare", "pcie4_bad,pcie5_good,nvlink4", "--tp", "4",
                    "--model", "llama-2-13b")
    assert [r["preset"] for r in rows] == ["pcie4_bad", "pcie5_good", "nvlink4"]
    slowest = max(r["tpot_s"] for r in rows)
    for r in rows:
        link = INTERCONNECTS[r["preset"]]
        assert (r["bw_gbps"], r["latency_us"]) == (link.bw_gbps, link.latency_s * 1e6)
        gpu = TYPICAL_GPU[r["preset"]]
        res = km.simulate(model="llama-2-13b", gpu=gpu, interconnect=r["preset"], tp=4)
        base = km.simulate(model="llama-2-13b", gpu=gpu, interconnect=r["preset"], tp=1)
        assert r["tpot_s"] == res.tpot_s and r["tpot_tp1_s"] == base.tpot_s
        assert r["overhead_vs_tp1"] == pytest.approx(res.tpot_s / base.tpot_s - 1, rel=1e-12)
        assert r["speedup_vs_slowest"] == pytest.approx(slowest / r["tpot_s"], rel=1e-12)
    rc, out, _ = run(capsys, "--compare", "pcie4_bad,nvlink4", "--tp", "4")
    assert rc == 0 and out.count("\npcie4_bad ") == 1 and "nvlink4" in out


def test_sweep_csv(capsys):
    rc, out, err = run(capsys, "--preset", "pcie4_bad", "--tp", "4", "--model", "llama-2-13b",
                       "--sweep", "--sweep-bw", "3.11,24,48", "--sweep-lat", "2630,5us")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6
    assert [(float(r["link_bw_gbps"]), float(r["link_latency_us"])) for r in rows] == \
        [(3.11, 2.63), (3.11, 5), (24, 2.63), (24, 5), (48, 2.63), (48, 5)]
    link = km.get_interconnect("pcie4_bad")
    assert (link.bw_gbps, link.latency_s) == (3.11, 2.63e-6)   # rows[0] is the preset's own link
    res = km.simulate(model="llama-2-13b", gpu="rtx-4090", interconnect="pcie4_bad", tp=4)
    assert float(rows[0]["tpot_s"]) == pytest.approx(res.tpot_s, rel=1e-9)
    t = [float(r["tpot_s"]) for r in rows]
    assert t[0] > t[2] > t[4] and t[1] > t[0]      # more bandwidth faster, more latency slower


def test_sweep_ctx_and_vary(capsys):
    rc, out, _ = run(capsys, "--preset", "nvlink", "--sweep", "--sweep-ctx", "128,4096",
                     "--vary", "tp=1,2,3", "--vary", "batch-size=1,8")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2 * 3 * 2
    r = next(r for r in rows if r["prompt_tokens"] == "4096" and r["tp"] == "2" and r["batch"] == "8")
    res = km.simulate(gpu="a100-sxm-80gb", interconnect="nvlink", prompt_tokens=4096,
                      output_tokens=1, tp=2, batch=8)
    assert float(r["tpot_s"]) == pytest.approx(res.tpot_s, rel=1e-9)
    bad = [r for r in rows if r["tp"] == "3"]
    assert bad and all(r["valid"] == "False" and "heads" in r["error"] for r in bad)


def test_sweep_without_lists_uses_preset_bandwidths(capsys):
    rc, out, _ = run(capsys, "--preset", "nvlink", "--tp", "2", "--sweep")
    rows = list(csv.DictReader(io.StringIO(out)))
    in_node = {float(i.bw_gbps) for i in INTERCONNECTS.values() if i.kind != "network"}
    assert set(map(float, cli.DEFAULT_SWEEP_BW)) == in_node
    assert sorted(float(r["link_bw_gbps"]) for r in rows) == sorted(in_node)


BAD = [
    (["--preset", "pcie4_bd"], ["--preset", "pcie4_bad"]),
    (["--model", "llama-2-70"], ["--model", "llama-2-70b"]),
    (["--gpu", "h1000"], ["--gpu", "h100"]),
    (["--bits", "3"], ["--bits", "4, 8, 16"]),
    (["--tp", "0"], ["--tp", ">= 1"]),
    (["--tp", "-2"], ["--tp", ">= 1"]),
    (["--batch-size", "-1"], ["--batch-size"]),
    (["--layers", "0"], ["--layers"]),
    (["--overlap", "-0.1"], ["--overlap", "[0, 1]"]),
    (["--tp", "3", "--model", "llama-2-7b"], ["--tp", "32 attention heads"]),
    (["--pp", "100", "--model", "llama-2-7b"], ["--pp", "layers"]),
    (["--ctx-len", "0"], ["--ctx-len"]),
    (["--sweep", "--sweep-bw", ""], ["--sweep-bw", "empty"]),
    (["--sweep", "--sweep-lat", "1,x"], ["--sweep-lat", "'x'"]),
    (["--sweep", "--sweep-ctx", "0,5"], ["--sweep-ctx", ">= 1"]),
    (["--sweep", "--sweep-bw", "-5"], ["--sweep-bw", "> 0"]),
    (["--vary", "tpp=1,2"], ["--vary", "closest: tp"]),
    (["--compare", "pcie4_bad,nvlnk"], ["--compare", "nvlink"]),
    (["--compare", ""], ["--compare", "empty"]),
    (["--preset", "nvlink", "--interconnect", "nvlink4"], ["--preset", "--interconnect"]),
    (["--algorithm", "rign"], ["--algorithm", "ring"]),
    (["--serve", "70000"], ["--serve", "1..65535"]),
    (["--tpp", "2"], ["--tpp", "closest: --tp"]),
    (["--model", "/no/such/config.json"], ["--model", "no such file"]),
    (["optimize", "--num-gpus", "0"], ["--num-gpus"]),
    (["optimize", "--objective", "fast"], ["--objective", "throughput"]),
    (["optimize", "--batch", "1,,2"], ["--batch", "empty"]),
    (["optimize", "--weight-bits", "3"], ["--weight-bits", "4, 8, 16"]),
]


@pytest.mark.parametrize("args,needles", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line_naming_the_flag(capsys, args, needles):
    rc, out, err = run(capsys, *args)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in err


def test_help_has_examples(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "examples:" in out and "--preset pcie4_bad --tp 4" in out
    rc, out, _ = run(capsys, "optimize", "--help")
    assert rc == 0 and "--max-tpot-ms" in out


def test_serve_command_binds_localhost_without_browser(monkeypatch, capsys):
    cmd = cli.serve_command(8866)
    assert cmd[:3] == [sys.executable, "-m", "kernel_model.cli.voila_app"]
    assert "--port=8866" in cmd and "--ip=127.0.0.1" in cmd
    from kernel_model.cli.voila_app import config
    c = config("127.0.0.1", 8866, 3, 60)
    assert (c.Voila.ip, c.Voila.open_browser) == ("127.0.0.1", False)
    assert c.MappingKernelManager.cull_idle_timeout == 60
    nb = cmd[-1]
    assert nb.endswith(os.path.join("notebooks", "00_dashboard.ipynb"))
    assert os.path.dirname(os.path.dirname(nb)) == os.path.dirname(os.path.dirname(km.__file__))
    calls = []
    from kernel_model.cli import serve
    monkeypatch.setattr(serve, "dashboard_path", lambda: __file__)       # any existing file

    class FakePopen:
        def __init__(self, c, **kw):
            calls.append((c, kw))
            self.pid = -1

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    monkeypatch.setattr(serve, "stop_tree", lambda proc: None)
    rc, out, err = run(capsys, "--serve", "9000")
    assert rc == 0 and calls == [(cli.serve_command(9000, __file__), {"start_new_session": True})]
    monkeypatch.setattr(serve, "dashboard_path", lambda: "/no/such/00_dashboard.ipynb")
    rc, out, err = run(capsys, "--serve", "9000")
    assert rc == 2 and "missing" in err and len(calls) == 1


def _fake(monkeypatch, name, rc):
    seen = []
    mod = types.ModuleType(f"kernel_model.{name}")
    mod.cli_main = lambda argv: seen.append(list(argv)) or rc
    monkeypatch.setitem(sys.modules, f"kernel_model.{name}", mod)
    return seen


def test_delegation_to_other_modes(monkeypatch, capsys):
    seen_t = _fake(monkeypatch, "training", 0)
    seen_g = _fake(monkeypatch, "gemm", 3)
    seen_v = _fake(monkeypatch, "validate", 0)
    assert cli.main(["--mode", "training", "--tp", "2"]) == 0
    assert seen_t == [["--mode", "training", "--tp", "2"]]
    assert cli.main(["--mode=gemm", "--m", "8"]) == 3
    assert seen_g == [["--mode=gemm", "--m", "8"]]
    assert cli.main(["validate", "x.csv", "--csv", "o.csv"]) == 0
    assert seen_v == [["x.csv", "--csv", "o.csv"]]


def test_missing_mode_module_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "kernel_model.training", None)
    rc, out, err = run(capsys, "--mode", "training")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "training" in err


def test_optimize_subcommand(capsys):
    rc, out, err = run(capsys, "optimize", "--model", "llama-2-13b", "--gpu", "a100-sxm-80gb",
                       "--num-gpus", "4", "--batch", "1,8", "--weight-bits", "16",
                       "--kv-bits", "16", "--overlap", "0", "--json")
    assert rc == 0, err
    d = json.loads(out)
    from kernel_model.optimize import optimize
    ref = optimize("llama-2-13b", "a100-sxm-80gb", 4, batch=(1, 8), weight_bits=(16,),
                   kv_bits=(16,), overlap=(0.0,))
    assert d["best"]["tokens_per_s_per_gpu"] == pytest.approx(ref.best["tokens_per_s_per_gpu"], rel=1e-12)
    assert len(d["pareto"]) == len(ref.pareto)
    rc, out, err = run(capsys, "optimize", "--model", "llama-2-13b", "--gpu", "a100-sxm-80gb",
                       "--num-gpus", "4", "--max-tpot-ms", "20")
    assert rc == 0 and "best plan:" in out and "Pareto front" in out
    rc, out, err = run(capsys, "optimize", "--model", "llama-3-70b", "--gpu", "rtx-4090",
                       "--num-gpus", "1", "--weight-bits", "16")
    assert rc == 1 and "no feasible plan" in out


def test_json_path_imports_neither_pandas_nor_widgets(python_ok):
    code = ("import sys, io, contextlib\n"
            "from kernel_model.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    rc = main(['--preset', 'pcie4_bad', '--tp', '4', '--json'])\n"
            "bad = [m for m in ('pandas', 'ipywidgets', 'bqplot', 'jupyterlab', 'IPython') if m in sys.modules]\n"
            "print(rc, bad)\n"
            "sys.exit(0 if rc == 0 and not bad else 1)\n")
    python_ok(code)


def test_python_dash_m_kernel_model():
    out = subprocess.run([sys.executable, "-m", "kernel_model", "--preset", "nvlink4", "--tp", "2",
                          "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["scenario"]["gpu"] == "h100-sxm"
    bad = subprocess.run([sys.executable, "-m", "kernel_model", "--preset", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_text_output_explains_a_decode_step_without_compute(capsys):
    rc, out, _ = run(capsys, "--tp", "1", "--no-opt")
    assert rc == 0 and "compute is 0 in this decode step" in out and "memory-bound" in out
    rc, out, _ = run(capsys, "--tp", "1", "--no-opt", "--batch-size", "512")
    assert rc == 0 and "compute is 0" not in out
