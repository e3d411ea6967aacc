"""The scalar fast path and lazy imports (issue 13 items 2 and 4): same numbers, fewer imports."""
import math

import numpy as np
import pytest

import kernel_model as km
from kernel_model import xp


VALUES = [0.0, -0.0, 1.0, -2.5, 3.7, 1e-300, 1e300, 2.0 ** 52 + 0.5, math.inf, -math.inf, math.nan, 7, True]


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_pure_float_binary_functions_equal_numpy(name):
    for a in VALUES:
        for b in VALUES:
            got, want = getattr(xp, name)(a, b), getattr(np, name)(a, b)
            assert (math.isnan(got) and np.isnan(want)) or got == want, (name, a, b, got, want)


@pytest.mark.parametrize("name", ["ceil", "floor", "log2", "log", "exp", "sqrt"])
def test_pure_float_unary_functions_equal_numpy(name):
    """Identical for ceil / floor / sqrt; within 1 ulp for log2 / log / exp (libm vs numpy)."""
    ulps = 0 if name in ("ceil", "floor", "sqrt") else 1
    rng = np.random.default_rng(1)
    values = [v for v in VALUES if v is not True] + list(rng.random(2000) * 50)
    with np.errstate(all="ignore"):
        for a in values:
            got, want = getattr(xp, name)(float(a)), float(getattr(np, name)(float(a)))
            assert type(got) is float
            if math.isnan(want) or math.isinf(want):
                assert (math.isnan(got) and math.isnan(want)) or got == want, (name, a)
            else:
                assert abs(got - want) <= ulps * math.ulp(want), (name, a, got, want)


def test_where_and_select_pick_like_numpy():
    assert xp.where(True, 1.0, 2.0) == 1.0 and xp.where(False, 1.0, 2.0) == 2.0
    assert xp.select([False, True, True], [1.0, 2.0, 3.0], 9.0) == 2.0
    assert xp.select([False, False], [1.0, 2.0], 9.0) == 9.0
    arr = xp.where(np.array([True, False]), 1.0, 2.0)
    assert isinstance(arr, np.ndarray) and list(arr) == [1.0, 2.0]


def test_one_scenario_runs_on_python_floats_and_equals_the_array_path():
    """simulate() never touches numpy arrays, and a 1-element array run gives the same numbers."""
    from kernel_model.simulate import params, evaluate
    sc = km.Scenario(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=4, ep=2,
                     pp=2, micro_batches=2, batch=8, overlap=0.3)
    P = params(sc)
    out = evaluate(P)
    assert type(out["tpot_s"]) is float and type(out["ttft_s"]) is float
    assert all(type(v) is float for v in out["breakdown"].values())
    arr = {k: (np.array([v]) if k != "link" else {kk: np.array([vv]) for kk, vv in v.items()})
           for k, v in P.items()}
    out2 = evaluate(arr)
    for key in ("tpot_s", "ttft_s", "e2e_s"):
        assert abs(out2[key][0] - out[key]) <= 1e-15 * out[key]
    for c, v in out["breakdown"].items():
        assert abs(out2["breakdown"][c][0] - v) <= 1e-15 * out["tpot_s"]


def test_importing_the_package_or_the_json_cli_pulls_no_heavy_modules(python_ok):
    python_ok("import sys, kernel_model as km\n"
              "km.simulate(tp=2)\n"
              "heavy = [m for m in ('traitlets', 'yaml', 'pandas', 'kernel_model.training',\n"
              "         'kernel_model.energy', 'kernel_model.hf_config', 'kernel_model.model_object',\n"
              "         'dask') if m in sys.modules]\n"
              "assert not heavy, heavy\n"
              "assert km.ScenarioModel.__name__ == 'ScenarioModel' and 'traitlets' in sys.modules\n")
    python_ok("import sys, io, contextlib\n"
              "from kernel_model.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              "    assert main(['--preset', 'pcie4_bad', '--tp', '4', '--json']) == 0\n"
              "heavy = [m for m in ('traitlets', 'yaml', 'pandas', 'kernel_model.training')\n"
              "         if m in sys.modules]\n"
              "assert not heavy, heavy\n")


def test_scalar_path_equals_array_path_on_random_scenarios():
    """Python floats (simulate) and arrays (one stacked pass) agree to 1e-12, multi-node,
    MoE, every algorithm, format and runtime included."""
    import random
    rnd = random.Random(4)
    scs = []
    while len(scs) < 120:
        kw = dict(model=rnd.choice(["llama-2-70b", "mixtral-8x7b", "deepseek-v2-lite", "opt-13b"]),
                  gpu=rnd.choice(["h100-sxm", "a100-sxm-80gb", "b200", "mi300x"]),
                  interconnect=rnd.choice(["nvlink", "nvlink4", "pcie4_bad", "pcie5_bad", "ib_ndr"]),
                  tp=rnd.choice([1, 2, 4, 8]), pp=rnd.choice([1, 2, 3]), ep=rnd.choice([1, 2]),
                  batch=rnd.choice([1, 8, 64]), micro_batches=1, gpus_per_node=rnd.choice([2, 8]),
                  algorithm=rnd.choice(["auto", "ring", "tree", "oneshot", "twoshot"]),
                  weight_format=rnd.choice(["auto", "fp8", "nvfp4", "int4-awq"]),
                  runtime=rnd.choice(["compiled", "vllm", "trtllm", "tgi-eager"]),
                  overlap=rnd.random(), prompt_tokens=rnd.randint(1, 5000))
        try:
            scs.append(km.Scenario(**kw))
        except ValueError:
            pass
    out = km.evaluate_scenarios(scs)
    for i, sc in enumerate(scs):
        r = km.simulate(sc)
        assert type(r.tpot_s) is float
        for key in ("tpot_s", "ttft_s"):
            assert abs(out[key][i] - getattr(r, key)) <= 1e-12 * getattr(r, key), (sc, key)
