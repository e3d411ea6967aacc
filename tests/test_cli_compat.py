"""Parity with the old Rust ``nexora`` (issue 15): every command of its README and every flag
of its ``--help`` runs, with the old meaning and units, on the physical engine."""
import csv
import io
import json
import re
import shlex
import subprocess

import pytest

import kernel_model as km
from kernel_model import cli
from kernel_model.cli import tune, serve


def run(capsys, *args):
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def compat(capsys, *args):
    rc, out, err = run(capsys, *args, "--json-compat")
    assert rc == 0, err
    return json.loads(out, parse_constant=_no_nan), err


def _no_nan(x):
    raise AssertionError(f"invalid JSON constant {x}")


@pytest.fixture
def no_voila(monkeypatch):
    """--serve without starting Voila: record the command instead."""
    calls = []

    class FakePopen:
        def __init__(self, c, **kw):
            calls.append(c)
            self.pid = -1

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    monkeypatch.setattr(serve, "stop_tree", lambda proc: None)
    return calls


# ---- the old README, unchanged -----------------------------------------------------------------
OLD_README = """\
nexora --preset pcie4_bad --tp 4
nexora --preset pcie4_bad --tp 4 --ascii
nexora --preset pcie4_bad --tp 4 --batch-size 1
nexora --preset pcie4_bad --tp 4 --batch-size 32
nexora --preset nvlink4 --tp 4 --json
nexora --preset nvlink4 --tp 4 --pp 4 --micro-batches 8
nexora --model llama-70b --preset nvlink4 --tp 8
nexora --model mixtral-8x7b --preset nvlink4 --tp 8 --moe-experts 8
nexora --model mixtral-8x7b --preset nvlink4 --tp 8 --moe-experts 8 --active-experts 2
nexora --compare "pcie4_bad,nvlink,nvlink4" --tp 4
nexora --compare "pcie4_bad,nvlink,nvlink4,nvlink5" --tp 8
nexora --preset pcie4_bad --ttft --cache-aware
nexora --preset pcie4_bad --ttft --prompt-tokens 1024 --output-tokens 256
nexora --sweep --sweep-bw "12,16,20,24" --sweep-lat "20000,30000,45000"
nexora --serve 8080
nexora --help
""".splitlines()


@pytest.mark.parametrize("line", OLD_README)
def test_every_old_readme_command_exits_0(capsys, no_voila, line):
    rc, out, err = run(capsys, *shlex.split(line)[1:])
    assert rc == 0, err
    assert "error" not in err and "Traceback" not in err
    assert out or no_voila                      # --serve prints nothing on stdout


def test_old_micro_batches_command_caps_at_the_batch_with_one_note(capsys):
    d, err = compat(capsys, "--preset", "nvlink4", "--tp", "4", "--pp", "4", "--micro-batches", "8")
    assert d["scenario"]["micro_batches"] == 1 and d["scenario"]["batch"] == 1
    notes = [x for x in err.splitlines() if "--micro-batches 8" in x]
    assert len(notes) == 1 and "capped at 1" in notes[0]
    d2, err2 = compat(capsys, "--preset", "nvlink4", "--tp", "4", "--pp", "4", "--micro-batches", "8",
                      "--batch-size", "16")
    assert d2["scenario"]["micro_batches"] == 8 and err2 == ""


def test_old_model_names_resolve():
    for old, new in (("llama-7b", "llama-2-7b"), ("llama-13b", "llama-2-13b"),
                     ("llama-70b", "llama-2-70b"), ("mixtral-8x7b", "mixtral-8x7b"),
                     ("mixtral-8x22b", "mixtral-8x22b")):
        assert km.get_model(old).name == new


def test_old_sweep_latencies_are_nanoseconds(capsys):
    rc, out, err = run(capsys, "--sweep", "--tp", "4", "--sweep-bw", "12,24",
                       "--sweep-lat", "20000,45000,45us")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["link_latency_us"]) for r in rows] == [20.0, 45.0, 45.0] * 2
    t = {(r["link_bw_gbps"], r["link_latency_us"]): float(r["tpot_s"]) for r in rows}
    assert t[("12.0", "45.0")] > t[("12.0", "20.0")] > t[("24.0", "20.0")]


def test_sweep_of_the_link_on_one_gpu_says_why_rows_are_equal(capsys):
    rc, out, err = run(capsys, "--sweep", "--sweep-bw", "12,16")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["tpot_s"] == rows[1]["tpot_s"]
    assert "one GPU" in err and "--tp" in err


# ---- every flag of the old --help ---------------------------------------------------------------
BASE = ["--preset", "pcie4_bad", "--tp", "4"]


def _scenario(d):
    return d["scenario"]


def _same_as_base(capsys):
    return compat(capsys, *BASE)[0]


OLD_FLAGS = {
    "--tp": (["--tp", "2"], lambda d, b: _scenario(d)["tp"] == 2),
    "--pp": (["--pp", "2"], lambda d, b: _scenario(d)["pp"] == 2),
    "--micro-batches": (["--pp", "2", "--micro-batches", "2", "--batch-size", "2"],
                        lambda d, b: _scenario(d)["micro_batches"] == 2),
    "--preset": (["--preset", "nvlink4"], lambda d, b: d["preset"] == "nvlink4"
                 and _scenario(d)["gpu"] == "h100-sxm"),
    "--algo": (["--algo", "tree"], lambda d, b: _scenario(d)["algorithm"] == "tree"),
    "--layers": (["--layers", "16"], lambda d, b: _scenario(d)["layers"] == 16
                 and d["config"]["layers"] == 16),
    "--batch-size": (["--batch-size", "32"], lambda d, b: _scenario(d)["batch"] == 32),
    "--moe-experts": (["--moe-experts", "8"], lambda d, b: _scenario(d)["moe_experts"] == 8
                      and d["config"]["moe_experts"] == 8),
    "--active-experts": (["--moe-experts", "8", "--active-experts", "1"],
                         lambda d, b: d["config"]["active_experts"] == 1),
    "--group": (["--group", "4"], lambda d, b: _scenario(d)["comm_group"] == 4
                and d["baseline"]["ns_per_token"] < b["baseline"]["ns_per_token"]),
    "--bits": (["--bits", "8"], lambda d, b: _scenario(d)["comm_bits"] == 8
               and d["step_bytes"]["comm_sent"] == b["step_bytes"]["comm_sent"] / 2),
    "--overlap": (["--overlap", "0.5"], lambda d, b: _scenario(d)["overlap"] == 0.5),
    "--ctx-len": (["--ctx-len", "512"], lambda d, b: (_scenario(d)["prompt_tokens"],
                                                      _scenario(d)["output_tokens"]) == (512, 1)),
    "--prompt-tokens": (["--prompt-tokens", "512"], lambda d, b: _scenario(d)["prompt_tokens"] == 512),
    "--prompt-len": (["--prompt-len", "512"], lambda d, b: _scenario(d)["prompt_tokens"] == 512),
    "--output-tokens": (["--output-tokens", "128"], lambda d, b: _scenario(d)["output_tokens"] == 128),
    "--ttft": (["--ttft"], lambda d, b: d["config"]["ttft"] is True),
    "--cache-aware": (["--cache-aware"], lambda d, b: d["config"]["cache_aware"] is True),
    "--max-risk": (["--max-risk", "0"], lambda d, b: d["optimized"]["risk"] == 0
                   and d["optimized"]["ns_per_token"] == d["baseline"]["ns_per_token"]),
    "--max-group": (["--max-group", "1"], lambda d, b: d["optimized"]["group"] == 1),
    "--no-opt": (["--no-opt"], lambda d, b: d["optimized"] is None),
}


@pytest.mark.parametrize("flag", sorted(OLD_FLAGS))
def test_old_flag_keeps_its_meaning(capsys, flag):
    args, check = OLD_FLAGS[flag]
    base = _same_as_base(capsys)
    d, err = compat(capsys, *BASE, *args)
    assert check(d, base), (flag, d["scenario"])


NOTED = [("--comm-ops", "4"), ("--ag-bytes", "4096"), ("--prefill-factor", "1.5"),
         ("--kv-write-ns", "100"), ("--kv-read-ns", "10")]


@pytest.mark.parametrize("flag,value", NOTED)
def test_old_knobs_without_a_physical_meaning_run_with_one_note(capsys, flag, value):
    base = _same_as_base(capsys)
    d, err = compat(capsys, *BASE, flag, value)
    lines = [x for x in err.splitlines() if x]
    assert len(lines) == 1 and lines[0].startswith("nexora: note: ") and flag in lines[0]
    assert "not used" in lines[0]
    assert d["tpot_s"] == base["tpot_s"]
    assert any(flag in s for s in d["insights"])


def test_old_defaults_of_noted_knobs_are_silent(capsys):
    rc, out, err = run(capsys, *BASE, "--comm-ops", "2", "--ag-bytes", "0", "--json")
    assert rc == 0 and err == ""


def test_link_and_hbm_overrides_are_physical(capsys):
    # 40 GB/s, 0.5 µs instead of pcie4_good's 25.4 GB/s, 0.91 µs: same GPU, faster link
    good = km.get_interconnect("pcie4_good")
    assert good.bw_gbps < 40 and good.latency_s > 0.5e-6
    base, _ = compat(capsys, "--interconnect", "pcie4_good", "--tp", "4")
    d, err = compat(capsys, "--interconnect", "pcie4_good", "--tp", "4", "--bw-gbps", "40",
                    "--latency-ns", "500")
    assert err == ""
    assert (d["config"]["bw_gbps"], d["config"]["latency_ns"]) == (40.0, 500.0)
    assert d["breakdown"]["communication"] < base["breakdown"]["communication"]
    assert d["breakdown"]["hbm"] == base["breakdown"]["hbm"]
    # HBM at half the A100's 2039 GB/s: the memory-bound time doubles exactly
    h, _ = compat(capsys, "--tp", "4", "--memory-bw-gbps", "1019.5")
    h0, _ = compat(capsys, "--tp", "4")
    assert h["config"]["memory_bw_gbps"] == 1019.5
    assert h["breakdown"]["hbm"] + h["breakdown"]["compute"] > 1.9 * (h0["breakdown"]["hbm"]
                                                                       + h0["breakdown"]["compute"])


def test_link_flags_are_ignored_with_preset_with_one_note(capsys):
    base, _ = compat(capsys, *BASE)
    d, err = compat(capsys, *BASE, "--bw-gbps", "99", "--latency-ns", "1", "--memory-bw-gbps", "5")
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert all(f in lines[0] for f in ("--bw-gbps", "--latency-ns", "--memory-bw-gbps", "ignored"))
    assert d["tpot_s"] == base["tpot_s"]
    rc, out, err = run(capsys, "--compare", "pcie4_bad,nvlink", "--tp", "4", "--bw-gbps", "99", "--json")
    rows = json.loads(out)
    assert [r["bw_gbps"] for r in rows] == [km.get_interconnect(p).bw_gbps for p in ("pcie4_bad", "nvlink")]
    assert "--compare" in err and "ignored" in err


def test_payload_and_kv_overrides_hand_computed(capsys):
    base, _ = compat(capsys, *BASE)
    h = km.get_model("llama-2-7b").hidden
    # default all-reduce payload per token at 16 bits = hidden x 2 bytes; double it
    d, _ = compat(capsys, *BASE, "--ar-bytes", str(4 * h))
    assert d["step_bytes"]["comm_sent"] == pytest.approx(2 * base["step_bytes"]["comm_sent"], rel=1e-12)
    m, _ = compat(capsys, *BASE, "--msg-bytes", str(4 * h))
    assert m["tpot_s"] == d["tpot_s"]
    # KV bytes per token per layer = 128, sharded over tp=4: 1 seq x 400 tokens x 32 layers x 128 / 4
    k, _ = compat(capsys, *BASE, "--kv-bytes-base", "128")
    assert k["memory"]["kv_cache"] == pytest.approx(400 * 32 * 128 / 4, rel=1e-12)
    ns, _ = compat(capsys, *BASE, "--kv-bytes-base", "128", "--no-kv-shard")
    assert ns["memory"]["kv_cache"] == pytest.approx(400 * 32 * 128, rel=1e-12)
    full, _ = compat(capsys, *BASE, "--no-kv-shard")
    assert full["memory"]["kv_cache"] == pytest.approx(4 * base["memory"]["kv_cache"], rel=1e-12)


def test_compute_ns_sets_the_math_time_of_a_layer(capsys):
    d, _ = compat(capsys, *BASE, "--compute-ns", "80000")
    spec = km.get_model("llama-2-7b")
    h, f, tp, ctx = spec.hidden, spec.ffn, 4, 300
    gemm = 2 * (4 * h * h + 3 * h * f) / tp                  # qkv, o, gated MLP: FLOPs per token
    other = ctx * 4 * h / tp + 4 * h + 6 * 3 * h / tp + 5 * h + 4 * f / tp   # attention + elementwise
    peak = km.get_gpu("rtx-4090").bf16_tflops * 1e12
    eff = (gemm + other) / peak / 80e-6
    e = d["scenario"]["efficiency"]
    assert e["flops_efficiency"] == pytest.approx(eff, rel=1e-9)
    assert e["attention_efficiency"] == e["flops_efficiency"]
    rc, out, err = run(capsys, *BASE, "--compute-ns", "1", "--json")
    assert rc == 0 and "faster than the GPU's peak" in err
    assert json.loads(out)["scenario"]["efficiency"]["flops_efficiency"] == 1.0


def test_moe_experts_zero_is_the_old_dense_default(capsys):
    d, err = compat(capsys, *BASE, "--moe-experts", "0")
    assert d["scenario"]["moe_experts"] is None and err == ""
    d, err = compat(capsys, "--model", "mixtral-8x7b", "--preset", "nvlink4", "--tp", "8",
                    "--moe-experts", "0")
    assert d["config"]["moe_experts"] == 8 and "keeps its 8 experts" in err


# ---- modes and output ----------------------------------------------------------------------------
def test_bench_prints_ns_per_call_calls_per_s_and_the_sweep_rate(capsys):
    rc, out, err = run(capsys, *BASE, "--bench", "--bench-iters", "40")
    assert rc == 0, err
    m = re.search(r"simulate\(\): ([\d,]+) ns/call, ([\d,]+) calls/s \((\d+) calls", out)
    assert m and int(m.group(3)) == 40
    ns, per_s = float(m.group(1).replace(",", "")), float(m.group(2).replace(",", ""))
    assert ns > 0 and per_s == pytest.approx(1e9 / ns, rel=0.01)
    assert re.search(r"sweep\(\): [\d,]+ scenarios/s", out)
    assert "time-boxed" not in out


def test_bench_default_iterations_are_time_boxed(capsys):
    import time
    t0 = time.perf_counter()
    rc, out, err = run(capsys, *BASE, "--bench", "--bench-seconds", "0.3")
    assert rc == 0 and "time-boxed" in out and "1,000,000" in out
    assert time.perf_counter() - t0 < 20


def test_verbose_per_kernel_table_adds_up_to_the_step(capsys):
    rc, out, err = run(capsys, *BASE, "--verbose", "--no-opt")
    res = km.simulate(gpu="rtx-4090", interconnect="pcie4_bad", tp=4)
    table = out.split("Per-kernel table")[1].split("\n\n")[0]
    rows = re.findall(r"^  (\w+)\s+\w+\s+(\d+)\s+([\d.]+)\s+([\d.]+)", table, flags=re.M)
    by = {r[0]: r for r in rows}
    assert int(by["qkv_proj"][1]) == 32 and int(by["allreduce_mlp"][1]) == 32
    assert int(by["lm_head"][1]) == 1
    from kernel_model.cli.text import kernel_rows
    k = kernel_rows(res)
    assert sum(r["ms_per_step"] for r in k) == pytest.approx(res.tpot_s * 1e3, rel=1e-9)
    assert sum(r["calls"] for r in k if r["kind"] != "comm") == res.kernels_per_step


def test_json_keeps_todays_keys_and_json_compat_adds_the_old_ones(capsys):
    rc, out, _ = run(capsys, *BASE, "--json")
    plain = json.loads(out)
    assert "preset" not in plain and set(plain) >= {"scenario", "tpot_s", "breakdown"}
    d, _ = compat(capsys, *BASE)
    assert set(d) >= set(plain) | {"preset", "config", "baseline", "baseline_risk", "tp_comparison",
                                   "optimized", "insights"}
    assert d["tpot_s"] == plain["tpot_s"]
    assert d["baseline"]["ns_per_token"] == pytest.approx(plain["tpot_s"] * 1e9, rel=1e-12)
    assert d["baseline"]["tok_per_sec"] == plain["output_tokens_per_s"]
    assert d["baseline_risk"] == 0.0
    t1 = km.simulate(gpu="rtx-4090", interconnect="pcie4_bad", tp=1).tpot_s * 1e9
    t2 = km.simulate(gpu="rtx-4090", interconnect="pcie4_bad", tp=2).tpot_s * 1e9
    tc = d["tp_comparison"]
    assert tc["tp1_ns"] == pytest.approx(t1, rel=1e-12) and tc["tp2_ns"] == pytest.approx(t2, rel=1e-12)
    assert tc["tp2_ratio"] == pytest.approx(t2 / t1, rel=1e-12)
    assert tc["tp2_overhead_pct"] == pytest.approx(100 * (t2 / (t1 / 2) - 1), rel=1e-12)
    assert tc["tpn_ns"] == d["baseline"]["ns_per_token"] and tc["n"] == 4
    assert d["insights"][0] == plain["insight"] and all(isinstance(s, str) for s in d["insights"])
    r, _ = compat(capsys, *BASE, "--overlap", "0.5", "--bits", "8", "--group", "3")
    assert r["baseline_risk"] == pytest.approx(0.4 * 0.5 + 0.10 + 0.05 * 2, abs=1e-12)


def test_help_groups_flags_under_the_old_headings_and_lists_subcommands(capsys):
    rc, out, _ = run(capsys, "--help")
    heads = ["Hardware / Topology:", "Model Structure:", "Runtime / Scheduling:",
             "Optimization Guardrails:", "TTFT / Prefill:", "Modes:", "Output:"]
    pos = [out.index(h) for h in heads]
    assert pos == sorted(pos)
    for flag in ["--tp", "--pp", "--micro-batches", "--preset", "--algo", "--bw-gbps", "--latency-ns",
                 "--memory-bw-gbps", "--model", "--layers", "--comm-ops", "--ar-bytes", "--ag-bytes",
                 "--msg-bytes", "--ctx-len", "--kv-bytes-base", "--no-kv-shard", "--compute-ns",
                 "--batch-size", "--moe-experts", "--active-experts", "--group", "--bits", "--overlap",
                 "--ttft", "--cache-aware", "--max-risk", "--max-group", "--no-opt", "--prompt-tokens",
                 "--prompt-len", "--output-tokens", "--prefill-factor", "--kv-write-ns", "--kv-read-ns",
                 "--sweep", "--sweep-bw", "--sweep-lat", "--sweep-ctx", "--bench", "--bench-iters",
                 "--verbose", "--compare", "--ascii", "--json", "--serve"]:
        assert re.search(rf"{re.escape(flag)}\b", out), flag
    assert "nexora optimize" in out and "nexora validate" in out
    assert "0.4 x overlap + 0.05 x (group - 1) + {16-bit: 0, 8-bit: 0.10, 4-bit: 0.25}" in out


# ---- risk and the optimiser ----------------------------------------------------------------------
def test_risk_hand_computed():
    assert tune.risk(0.0, 1, 16) == 0.0
    assert tune.risk(0.5, 1, 8) == pytest.approx(0.3, abs=1e-12)
    assert tune.risk(0.0, 3, 16) == pytest.approx(0.1, abs=1e-12)
    assert tune.risk(0.95, 8, 4) == pytest.approx(0.38 + 0.35 + 0.25, abs=1e-12)
    assert tune.risk(1.0, 20, 4) == 1.0


def test_optimiser_respects_the_budget_and_finds_the_best_setting():
    sc = km.Scenario(gpu="rtx-4090", interconnect="pcie4_bad", tp=4)
    base = km.simulate(sc)
    prev = None
    for budget in (0.0, 0.1, 0.3, 0.6, 1.0):
        opt = tune.optimise(sc, base, km.simulate, 8, budget)
        assert opt["risk"] <= budget
        if prev is not None:
            assert opt["tpot_s"] <= prev                  # a larger budget is never slower
        prev = opt["tpot_s"]
        brute = min(km.simulate(sc.replace(overlap=o, comm_group=g, comm_bits=b)).tpot_s
                    for b in (16, 8, 4) for g in tune.groups(8) for o in tune.OVERLAPS
                    if tune.risk(o, g, b) <= budget)
        assert opt["tpot_s"] == brute
    assert tune.optimise(sc, base, km.simulate, 8, 0.0)["tpot_s"] == base.tpot_s
    assert tune.groups(8) == [1, 2, 4, 8] and tune.groups(6) == [1, 2, 4, 6]


def test_text_output_shows_the_optimiser_unless_no_opt(capsys):
    rc, out, _ = run(capsys, *BASE)
    assert "Optimizer (risk <= 0.3, group <= 8" in out
    rc, out, _ = run(capsys, *BASE, "--no-opt")
    assert "Optimizer" not in out


# every flag of the old --help, with its old default or a typical value: exit 0
OLD_HELP = [
    ("--tp", "4"), ("--pp", "1"), ("--micro-batches", "1"), ("--preset", "pcie4_good"),
    ("--algo", "ring"), ("--bw-gbps", "18.0"), ("--latency-ns", "25000"), ("--memory-bw-gbps", "900"),
    ("--model", "llama-13b"), ("--layers", "32"), ("--comm-ops", "2"), ("--ar-bytes", "32768"),
    ("--ag-bytes", "0"), ("--msg-bytes", "32768"), ("--ctx-len", "512"), ("--kv-bytes-base", "128"),
    ("--no-kv-shard", None), ("--compute-ns", "80000"), ("--batch-size", "1"), ("--moe-experts", "0"),
    ("--active-experts", "2"), ("--group", "1"), ("--bits", "16"), ("--overlap", "0.0"),
    ("--ttft", None), ("--cache-aware", None), ("--max-risk", "0.3"), ("--max-group", "8"),
    ("--no-opt", None), ("--prompt-tokens", "512"), ("--prompt-len", "512"), ("--output-tokens", "128"),
    ("--prefill-factor", "1.5"), ("--kv-write-ns", "100"), ("--kv-read-ns", "10"), ("--sweep", None),
    ("--sweep-bw", "12,16,20,24"), ("--sweep-lat", "20000,30000,45000"), ("--sweep-ctx", "256,512,1024,2048"),
    ("--bench", None), ("--bench-iters", "20"), ("--verbose", None), ("--compare", "a"),
    ("--ascii", None), ("--json", None), ("--serve", "8080"),
]


@pytest.mark.parametrize("flag,value", OLD_HELP, ids=[f for f, _ in OLD_HELP])
def test_every_old_help_flag_runs(capsys, no_voila, flag, value):
    args = [flag] + ([] if value is None else [value])
    if flag == "--compare":
        args = ["--compare", "pcie4_bad,nvlink,nvlink4"]
    if flag == "--bench-iters":
        args = ["--bench"] + args
    rc, out, err = run(capsys, "--tp", "4", *args)
    assert rc == 0, err
    assert "error" not in err


def test_old_help_table_covers_the_reference_list():
    assert len(OLD_HELP) == 46 and len({f for f, _ in OLD_HELP}) == 46


# ---- the new README's command lines run as written -----------------------------------------------
def _readme_commands():
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text(encoding="utf-8")
    block = text.split("## On the command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    cmds = [line.split(" #")[0].split(" > ")[0].strip() for line in block.splitlines()]
    return root, [c for c in cmds if c.startswith("nexora")]


def test_readme_commands_run_as_written(capsys, no_voila, monkeypatch, tmp_path):
    root, cmds = _readme_commands()
    assert len(cmds) >= 12
    assert "nexora --preset nvlink --tp 8 --sweep --sweep-bw 50,150,300" in cmds
    monkeypatch.chdir(root)
    for c in cmds:
        args = [str(tmp_path / a) if a.endswith("errors.csv") else a for a in shlex.split(c)[1:]]
        rc, out, err = run(capsys, *args)
        assert rc == 0, (c, err)
        if "--sweep" in args:
            rows = list(csv.DictReader(io.StringIO(out)))
            assert len({r["tpot_s"] for r in rows}) == len(rows) == 3     # the rows differ
