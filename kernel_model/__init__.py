"""kernel_model: where the time of an LLM token goes on several GPUs.

    import kernel_model as km
    res = km.simulate(km.Scenario(model="llama-2-70b", gpu="h100-sxm",
                                  interconnect="nvlink4", tp=8))
    res.tpot_s, res.breakdown, res.bottleneck, res.timeline

numpy / pandas / traitlets only: importing it never imports ipywidgets or bqplot.
"""
from .hardware import GPU, Interconnect, GPUS, INTERCONNECTS, get_gpu, get_interconnect, list_gpus, list_interconnects
from .models import ModelSpec, MODELS, get_model, list_models, register_model
from .runtime import Runtime, RUNTIMES, get_runtime, list_runtimes, runtime_for_framework
from .calibration import Calibration, DEFAULT as DEFAULT_CALIBRATION
from .scenario import Scenario
from .simulate import simulate, Result
from .sweep import sweep
from .optimize import optimize, OptimizeResult
from .gemm import gemm, GemmResult

# Imported on first use (module __getattr__ below): they pull in traitlets, yaml or the
# training model, which the CLI's fast paths never need. name -> (module, attribute).
_LAZY = {
    "ScenarioModel": ("model_object", "ScenarioModel"),
    "simulate_training": ("training", "simulate_training"),
    "TrainingResult": ("training", "TrainingResult"),
    "inference_energy": ("energy", "inference_energy"),
    "training_energy": ("energy", "training_energy"),
    "model_from_hf_config": ("hf_config", "model_from_hf_config"),
    "load_yaml": ("yaml_import", "load_yaml"),
    "evaluate_scenarios": ("stack", "evaluate_scenarios"),
}

__all__ = ["GPU", "Interconnect", "GPUS", "INTERCONNECTS", "get_gpu", "get_interconnect",
           "list_gpus", "list_interconnects", "ModelSpec", "MODELS", "get_model", "list_models",
           "register_model", "Runtime", "RUNTIMES", "get_runtime", "list_runtimes",
           "runtime_for_framework", "Calibration", "DEFAULT_CALIBRATION", "Scenario", "simulate", "Result", "ScenarioModel",
           "sweep", "optimize", "OptimizeResult", "simulate_training", "TrainingResult",
           "inference_energy", "training_energy", "gemm", "GemmResult", "model_from_hf_config",
           "load_yaml", "validate", "evaluate_scenarios"]
__version__ = "0.1.0"


def __getattr__(name):
    """Names of ``_LAZY`` and ``kernel_model.validate``, imported on first use (pandas,
    traitlets, yaml: the CLI's fast paths need none of them). ``validate`` is callable as
    ``validate(path) -> DataFrame``, with ``.summarize`` etc."""
    import importlib
    if name == "validate":
        return importlib.import_module(__name__ + ".validate")
    if name in _LAZY:
        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
