"""A llama.cpp build number dates a measured row (runtime.LLAMACPP_2025_BUILD), and the 2024
profile this picks transfers to an independent May 2024 table: XiongjieDai's llama-bench runs
on 1-8 RTX 3090 / 4090 (benchmarks/data/llamacpp-xiongjiedai-3090-4090.csv)."""
import os

import pandas as pd
import pytest

import kernel_model.validate as V
from kernel_model.runtime import runtime_for_framework, LLAMACPP_2025_BUILD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "benchmarks", "data", "llamacpp-xiongjiedai-3090-4090.csv")


@pytest.mark.parametrize("text, profile", [
    ("llama.cpp llama-bench build 4426e298 (2824)", "llamacpp-2024"),     # llama-bench's own line
    ("llama.cpp build: 4426e298 (2824)", "llamacpp-2024"),
    ("llama.cpp version: 3383 (abc1234)", "llamacpp-2024"),               # llama-cli --version
    ("llama.cpp b4399", "llamacpp-2024"),                                  # a release tag
    ("llama.cpp b4400", "llamacpp"),
    ("llama.cpp build 6918 (2f68ce7cf, Nov 2025)", "llamacpp"),
    ("llama.cpp build 4426e298 (2824) without CUDA graphs", "llamacpp-2024-eager"),
    ("llama.cpp on B200", "llamacpp"),                  # a GPU name is not a build number
    ("llama.cpp b2824 on 2 x B300", "llamacpp-2024"),
    ("vLLM b2824", "vllm"),                             # only llama.cpp's builds are read
    ("llama.cpp", "llamacpp"),
    ("May 2024 build of llama.cpp", "llamacpp-2024"),  # the year may come first
    ("2024: llama.cpp, no CUDA graphs", "llamacpp-2024-eager"),
    ("vLLM 0.4.2 (2024)", "vllm"),                      # a year alone dates only llama.cpp
])
def test_a_llamacpp_build_number_dates_the_row(text, profile):
    name, why = runtime_for_framework(text)
    assert name == profile, why
    if profile.startswith("llamacpp-2024") and "2024" not in text:
        assert f"before b{LLAMACPP_2025_BUILD}" in why


def test_the_may_2024_layer_split_table_runs_as_2024_llamacpp():
    got = V.validate(TABLE, progress=False)
    assert len(got) == 48 and (got.status == "ok").all()
    assert set(got.runtime) == {"llamacpp-2024"}
    assert set(got.pp) == {1, 2, 4, 6, 8} and set(got.tp) == {1}     # the default layer split
    assert got.error_pct.abs().mean() < 6.0 and (got.error_pct.abs() <= 10.0).sum() >= 46


def test_read_without_its_build_the_table_is_fast_in_the_model():
    """The same rows with the build left out of the framework text run as 2025-2026 llama.cpp
    (a shorter launch gap) and every one comes out faster than measured."""
    df = pd.read_csv(TABLE)
    df["framework"] = "llama.cpp llama-bench"
    got = V.validate(df, progress=False)
    assert set(got.runtime) == {"llamacpp"}
    assert (got.error_pct < 0).all() and got.error_pct.abs().mean() > 10.0
