"""nexora_widgets: live ipywidgets + bqplot views of the kernel_model engine.

    from nexora_widgets import Dashboard
    Dashboard(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)

Every view takes a shared ``kernel_model.model_object.ScenarioModel`` (or a model preset
name plus Scenario fields) and redraws in place when its ``result`` changes.
"""
from kernel_model.model_object import ScenarioModel

from .breakdown import BreakdownChart
from .cards import MetricCards
from .compare import Compare
from .controls import Controls
from .dashboard import Dashboard
from .memory import MemoryChart
from .roofline import RooflineChart
from .scaling import ScalingChart
from .timeline import TimelineChart
from . import palette

__all__ = ["Dashboard", "Controls", "TimelineChart", "BreakdownChart", "ScalingChart",
           "MemoryChart", "MetricCards", "Compare", "RooflineChart", "ScenarioModel", "palette"]
