"""TensorRT-LLM's perf-overview check tables (benchmarks/data/trtllm-perf-overview-*.csv):
every row names a model, GPU and format the engine knows, so none drops out of the check
unseen, and a sample of the Hopper sweep runs through the saturation check."""
from pathlib import Path

import pandas as pd
import pytest

import kernel_model as km
from kernel_model import formats
from kernel_model.serving.saturation import validate_saturation

DATA = Path(__file__).parents[1] / "benchmarks" / "data"
TABLES = sorted(DATA.glob("trtllm-perf-overview-*.csv"))


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_every_row_names_a_known_model_gpu_and_format(path):
    d = pd.read_csv(path)
    assert d["id"].is_unique and (d["value"] > 0).all()
    for name in d["model"].unique():
        km.get_model(name)                               # raises for an unknown model
    for name in d["gpu"].unique():
        km.get_gpu(name)
    # a 16-bit row's notes must not name an 8-bit format (the check would refuse the row)
    for _, r in d[d["weight_bits"] == 16].iterrows():
        name = formats.format_from_notes(r["notes"], 16, km.get_gpu(r["gpu"]))[0]
        assert formats.get_format(name).bits == 16, r["id"]


def test_hopper_sweep_rows_run_and_falcon_and_gptj_are_presets():
    d = pd.read_csv(DATA / "trtllm-perf-overview-h100-h200.csv")
    pick = pd.concat([d[d["model"] == "falcon-180b"].head(2), d[d["model"] == "gpt-j-6b"].head(2),
                      d[(d["model"] == "llama-3.1-70b") & (d["tp"] == 8)].head(2)])
    out = validate_saturation(pick)
    assert (out["status"] == "ok").all(), out[["id", "status"]]
    assert (out["predicted"] > 0).all()
