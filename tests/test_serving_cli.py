"""nexora serving / capacity through kernel_model.serving.cli.main(argv)."""
import json

import pandas as pd
import pytest

from kernel_model.serving.cli import main, add_parsers, build_parser

BASE = ["--model", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--prompt-tokens", "300",
        "--output-tokens", "100"]


def test_serving_text_summary(capsys):
    assert main(["serving", *BASE, "--rate", "4", "--requests", "200",
                 "--slo", "ttft_p90=1,tpot_p99=0.05"]) == 0
    out = capsys.readouterr().out
    assert "200 in" in out and "TTFT" in out and "SLO  met" in out


def test_serving_json_and_csv(tmp_path, capsys):
    path = tmp_path / "req.csv"
    assert main(["serving", *BASE, "--rate", "4", "--requests", "100", "--scheduler",
                 "chunked", "--json", "--csv", str(path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["summary"]["requests"] == 100 and d["config"]["scheduler"] == "chunked"
    df = pd.read_csv(path)
    assert len(df) == 100 and {"ttft_s", "tpot_s", "queue_s"} <= set(df.columns)


def test_serving_example_trace_and_closed_loop(capsys):
    assert main(["serving", *BASE, "--example", "chat", "--rate", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["requests"] == 1000
    assert main(["serving", *BASE, "--users", "4", "--requests", "40", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["requests"] == 40


@pytest.mark.parametrize("argv, text", [
    (["serving", "--rate", "-1"], "--rate: -1 is not allowed"),
    (["serving", "--model", "llama-2-7bb"], "closest: llama-2-7b"),
    (["serving", *BASE, "--scheduler", "chunky"], "closest: chunked"),
    (["serving", *BASE, "--disaggregated", "4"], "--disaggregated '4'"),
    (["serving", *BASE, "--slo", "ttft=1"], "slo key 'ttft'"),
    (["serving", *BASE, "--trace", "/no/such.csv"], "not found"),
    (["serving", *BASE, "--bogus"], "unrecognized arguments: --bogus"),
    (["capacity", *BASE, "--tol", "0"], "--tol: 0 is not allowed"),
    (["serve"], "expected 'serving' or 'capacity'"),
])
def test_bad_input_exits_2_with_one_line(argv, text, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nexora: error:") and text in err


def test_capacity_one_plan_and_plan_search(capsys, tmp_path):
    assert main(["capacity", *BASE, "--requests", "300", "--slo", "ttft_p90=0.5",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rate_rps"] > 0 and d["ttft_p90_s"] <= 0.5
    path = tmp_path / "plans.csv"
    assert main(["capacity", "--plan", *BASE, "--num-gpus", "2", "--requests", "200",
                 "--gpu-hour-usd", "2", "--csv", str(path)]) == 0
    df = pd.read_csv(path)
    assert len(df) > 0 and "usd_per_m_output_tokens" in df.columns
    assert (df["goodput_rps_per_gpu"].diff().dropna() <= 0).all()


def test_add_parsers_wires_both_subcommands():
    import argparse
    p = argparse.ArgumentParser(prog="nexora")
    sub = p.add_subparsers(dest="cmd")
    add_parsers(sub)
    a = p.parse_args(["serving", "--rate", "3", "--scheduler", "chunked"])
    assert a.cmd == "serving" and a.rate == 3.0 and callable(a.func)
    b = p.parse_args(["capacity", "--plan", "--num-gpus", "4"])
    assert b.plan and b.num_gpus == 4
    assert "--rate" not in build_parser("capacity").format_help()
