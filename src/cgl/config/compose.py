"""conf/ composed in-process exactly as the command line composes it, without a Hydra job.

For code that runs experiments without `src/main.py` (the tests, the benchmarks): they get the
same typed, validated-at-composition config a user's command gets.
"""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

#: The checkout's conf/, which src/main.py also reads (cgl is installed editable from src/).
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def compose_config(*overrides: str, conf_dir: Path = CONF_DIR) -> DictConfig:
    """The root config with `overrides` (`key=value`, `group=option`), as Hydra composes it
    for a run; the typed schema is registered when cgl is imported."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))
