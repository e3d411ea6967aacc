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
from .model_object import ScenarioModel
from .sweep import sweep
from .optimize import optimize, OptimizeResult
from .training import simulate_training, TrainingResult
from .energy import inference_energy, training_energy
from .gemm import gemm, GemmResult
from .hf_config import model_from_hf_config
from .yaml_import import load_yaml

__all__ = ["GPU", "Interconnect", "GPUS", "INTERCONNECTS", "get_gpu", "get_interconnect",
           "list_gpus", "list_interconnects", "ModelSpec", "MODELS", "get_model", "list_models",
           "register_model", "Runtime", "RUNTIMES", "get_runtime", "list_runtimes",
           "runtime_for_framework", "Calibration", "DEFAULT_CALIBRATION", "Scenario", "simulate", "Result", "ScenarioModel",
           "sweep", "optimize", "OptimizeResult", "simulate_training", "TrainingResult",
           "inference_energy", "training_energy", "gemm", "GemmResult", "model_from_hf_config",
           "load_yaml", "validate"]
__version__ = "0.1.0"


def __getattr__(name):
    """``kernel_model.validate``, imported on first use (it needs pandas; the CLI's fast
    paths do not): callable as ``validate(path) -> DataFrame``, with ``.summarize`` etc."""
    if name == "validate":
        import importlib
        return importlib.import_module(__name__ + ".validate")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
