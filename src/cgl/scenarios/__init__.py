"""Scenario loaders: cut a dataset into tasks and keep the ground truth to themselves."""

from cgl.scenarios.common import SUPPORTED, EvalView, ScenarioLoader, check_supported
from cgl.scenarios.graphs import GCScenarioLoader
from cgl.scenarios.links import LCScenarioLoader, LPScenarioLoader
from cgl.scenarios.nodes import NCScenarioLoader

__all__ = [
    "SUPPORTED",
    "EvalView",
    "GCScenarioLoader",
    "LCScenarioLoader",
    "LPScenarioLoader",
    "NCScenarioLoader",
    "ScenarioLoader",
    "check_supported",
]
