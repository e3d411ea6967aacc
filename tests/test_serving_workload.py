"""Workloads: arrival processes, length distributions, traces, the shipped examples."""
import numpy as np
import pandas as pd
import pytest

from kernel_model.serving import Workload, Trace, Uniform, LogNormal, Empirical


def _gaps(w):
    return np.diff(w.sample().arrival_s)


def test_poisson_rate_and_exponential_gaps():
    g = _gaps(Workload(rate_rps=4.0, requests=40000, seed=1))
    assert g.mean() == pytest.approx(0.25, rel=0.02)
    assert g.std() / g.mean() == pytest.approx(1.0, rel=0.03)     # exponential: cv = 1


@pytest.mark.parametrize("cv", [0.5, 3.0])
def test_gamma_gaps_have_the_requested_cv(cv):
    g = _gaps(Workload(rate_rps=2.0, arrival="gamma", cv=cv, requests=40000, seed=2))
    assert g.mean() == pytest.approx(0.5, rel=0.03)
    assert g.std() / g.mean() == pytest.approx(cv, rel=0.05)


def test_constant_arrivals_are_exact():
    a = Workload(rate_rps=5, arrival="constant", requests=11).sample().arrival_s
    assert np.allclose(a, np.arange(11) * 0.2, rtol=0, atol=1e-12)


def test_length_distributions():
    rng = np.random.default_rng(0)
    x = LogNormal(500, 300).draw(rng, 50000, "p")
    assert x.mean() == pytest.approx(500, rel=0.02) and x.std() == pytest.approx(300, rel=0.04)
    u = Uniform(10, 20).draw(rng, 5000, "p")
    assert u.min() == 10 and u.max() == 20
    e = Empirical((3, 7, 7)).draw(rng, 3000, "p")
    assert set(e) == {3, 7} and (e == 7).mean() == pytest.approx(2 / 3, abs=0.03)
    w = Workload(prompt=("uniform", 5, 6), output=[9, 10], requests=100).sample()
    assert set(w.prompt_tokens) <= {5, 6} and set(w.output_tokens) <= {9, 10}
    assert (Workload(prompt=123, requests=3).sample().prompt_tokens == 123).all()


def test_same_seed_same_trace():
    a = Workload(rate_rps=3, prompt=LogNormal(100, 50), requests=50, seed=5).sample()
    b = Workload(rate_rps=3, prompt=LogNormal(100, 50), requests=50, seed=5).sample()
    assert np.array_equal(a.arrival_s, b.arrival_s)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)


def test_with_rate_rescales_and_keeps_lengths():
    w = Workload(rate_rps=2, requests=2000, prompt=LogNormal(100, 50), seed=3)
    x, y = w.sample(), w.with_rate(8).sample()
    assert np.array_equal(x.prompt_tokens, y.prompt_tokens)
    assert np.allclose(y.arrival_s, x.arrival_s / 4)


def test_csv_roundtrip_with_prefix_columns(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"arrival_s": [0.0, 0.5, 2.0], "prompt_tokens": [10, 20, 30],
                  "output_tokens": [5, 6, 7], "prefix_id": [0, 0, -1],
                  "prefix_tokens": [4, 4, 0]}).to_csv(p, index=False)
    w = Workload.from_csv(p)
    tr = w.sample()
    assert list(tr.prompt_tokens) == [10, 20, 30] and list(tr.prefix_id) == [0, 0, -1]
    assert tr.rate_rps == pytest.approx(1.0)                 # 2 gaps over 2 s
    assert np.allclose(Workload.from_csv(p, rate_rps=2.0).sample().arrival_s, [0, 0.25, 1.0])


@pytest.mark.parametrize("text, match", [
    ("arrival_s,prompt_tokens,output_tokens\n", "empty"),
    ("arrival_s,prompt_tokens\n0,1\n", "missing column"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,0\n", "output_tokens must be >= 1"),
    ("arrival_s,prompt_tokens,output_tokens\n-1,10,3\n", "arrival_s must be finite and >= 0"),
    ("arrival_s,prompt_tokens,output_tokens\n0,x,3\n", "prompt_tokens must be numbers"),
])
def test_bad_traces(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        Workload.from_csv(p)


def test_missing_trace_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        Workload.from_csv(tmp_path / "nope.csv")


def test_shipped_examples_match_their_documented_statistics():
    chat = Workload.example("chat").sample()
    coding = Workload.example("coding").sample()
    assert len(chat) == len(coding) == 1000
    # kernel_model/data/traces.md: drawn sample figures
    assert chat.prompt_tokens.mean() == pytest.approx(154.467)
    assert chat.output_tokens.mean() == pytest.approx(317.291)
    assert np.median(coding.prompt_tokens) == 1548.5 and np.median(coding.output_tokens) == 13
    assert chat.rate_rps == pytest.approx(1.0, rel=0.1)
    assert Workload.example("chat", rate_rps=5).sample().rate_rps == pytest.approx(5.0)
    with pytest.raises(ValueError, match="example='code'"):
        Workload.example("code")


def test_closed_loop_sample_leaves_later_arrivals_to_the_simulation():
    tr = Workload(users=3, requests=10).sample()
    assert (tr.arrival_s[:3] == 0).all() and np.isnan(tr.arrival_s[3:]).all()
    with pytest.raises(ValueError, match="users=0"):
        Workload(users=0)
