"""kernel_model.serving: many requests at once on the closed-form engine."""
from .predictor import mixed_step, StepModel
