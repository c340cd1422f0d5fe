"""Scenario loaders: cut a dataset into tasks and keep the ground truth to themselves."""

from cgl.scenarios.common import SUPPORTED, EvalView, ScenarioLoader, check_supported
from cgl.scenarios.nodes import NCScenarioLoader

__all__ = ["SUPPORTED", "EvalView", "NCScenarioLoader", "ScenarioLoader", "check_supported"]
