"""A job's place in a hyperparameter search (an Optuna study run by `cgl.sweeps.study_sweeper`).

The search runs in the process that sweeps; a job only learns from its Hydra config that it
is a trial, so that its results.json says so (`study`) and the reports can keep the search's
runs apart from the evaluation sweep that follows it. Nothing here imports Optuna: a job
does not need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The SQLite file that holds the study, in the sweep directory (the sweeper's default storage).
STUDY_FILE = "study.db"
#: The study's name in that file when `hydra.sweeper.study_name` is not given.
DEFAULT_STUDY_NAME = "cgl"
#: cgl's sweeper (conf/hparams_search/ selects it).
SWEEPER_TARGET = "hydra_plugins.cgl_study_sweeper.study_sweeper.StudySweeper"


def storage_url(sweep_dir: str | Path) -> str:
    """The SQLAlchemy URL of the study file in `sweep_dir` (relative or absolute)."""
    return f"sqlite:///{Path(sweep_dir) / STUDY_FILE}"


def study_trial() -> dict[str, Any] | None:
    """{"study": name, "storage": url, "trial": number} when this Hydra job is a trial of
    cgl's study sweeper (its job directory is named after the trial's number), else None."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    sweeper = hc.get("sweeper") or {}
    if sweeper.get("_target_") != SWEEPER_TARGET:
        return None
    return {
        "study": sweeper.get("study_name") or DEFAULT_STUDY_NAME,
        "storage": sweeper.get("storage") or storage_url(hc.sweep.dir),
        "trial": int(hc.sweep.subdir),
    }
