"""The typed schema accepts every option in conf/, and the names validation knows by heart
are the ones the libraries accept."""

from __future__ import annotations

import typing

import pytest
from runs import REPO, make_cfg

from cgl.config.errors import ConfigError
from cgl.config.validation import WANDB_MODES, check_values, validate

OPTIONS = [
    f"{group.name}={option.stem}"
    for group in sorted((REPO / "conf").iterdir())
    if group.is_dir() and group.name != "hydra"
    for option in sorted(group.glob("*.yaml"))
]


def test_every_option_of_every_group_composes_and_passes_the_value_checks():
    for option in OPTIONS:
        check_values(make_cfg(option))  # raises on a key the schema lacks or a bad value


def test_validation_knows_the_wandb_modes():
    from wandb.sdk import wandb_init

    mode = typing.get_type_hints(wandb_init.init)["mode"]  # Optional[Literal[...]]
    assert set(WANDB_MODES) == set(typing.get_args(typing.get_args(mode)[0]))


def test_device_of_a_job_sent_elsewhere_is_checked_where_it_runs():
    cfg = make_cfg("device=cuda")
    validate(cfg, runs_here=False)  # a Slurm node may have the GPU this machine lacks
    with pytest.raises(ConfigError, match="device=cpu"):
        validate(cfg)
