"""The README's commands, run as a user types them (issue 23: every command it shows is run).

Commands are the lines of the README's ```bash blocks. Each `src/main.py` run (not `--help`
or `--cfg`) gets `README_FAST` appended (the README says so). They run in the README's order
in a scratch directory that links the repository's src/, conf/ and report scripts, so that
`reports/make_tables.py multirun/` reads the sweeps above it (or runs the first of them).
Commands that need an installation, real datasets, a network or many runs are listed in
SLOW with the reason and skipped by name.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from runs import REPO

README = REPO / "README.md"
README_FAST = ["logger=none", "progress=false", "epochs=2"]
#: README command (exactly as written, comment stripped) -> why the test does not run it
SLOW = {
    "python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python src/main.py"
    " level=nc scenario=classil method=mas": "installs the package (.ci/run does); its main job "
    "is run by test_main_job_prints_the_summary",
    ".venv/bin/python -m pytest -q -n 2": "the whole test suite (.ci/run runs it)",
    "python src/main.py experiment=begin_cora_classil -m seed=0,1,2,3,4": "downloads Cora",
    "python src/main.py experiment=cglb_corafull_classil -m method=bare,mas,joint": (
        "downloads CoraFull"
    ),
    "python src/main.py level=nc scenario=domainil method=mas hparams_search=mas "
    "hydra.sweep.dir=multirun/search": "20 Optuna trials (tests/test_study.py runs small studies)",
    "python src/main.py level=lc -m lamb=1,10,100 hydra/launcher=joblib": (
        "a worker process per core (tests/test_launchers.py runs joblib sweeps)"
    ),
}


def readme_commands(text: str) -> list[str]:
    """Every command line of the README's bash blocks, continuation lines joined, without
    its trailing comment."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(re.sub(r"\s+", " ", line))
    return commands


COMMANDS = readme_commands(README.read_text())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A directory that looks like the repository's root to the commands, outputs apart."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("src", "conf"):
        (root / name).symlink_to(REPO / name)
    (root / "reports").mkdir()  # the scripts, but reports/out of the scratch directory
    for script in (REPO / "reports").glob("*.py"):
        (root / "reports" / script.name).symlink_to(script)
    return root


def run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[0] in ("python", ".venv/bin/python"), f"not a python command: {command}"
    args = [sys.executable, *words[1:]]
    if words[1] == "src/main.py" and not any(w.startswith("--") for w in words):
        args += README_FAST  # a run (not --help, --cfg)
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_readme_is_a_front_door():
    assert len(README.read_text().splitlines()) <= 200


def test_slow_list_names_readme_commands():
    """A command skipped by name must still be on the page (the list cannot go stale)."""
    assert set(SLOW) <= set(COMMANDS), set(SLOW) - set(COMMANDS)


def test_main_job_prints_the_summary(scratch):
    """The first command's main job, as installed: what the README says it prints."""
    main_job = COMMANDS[0].split(" && ")[-1]
    done = run(main_job, scratch)
    assert done.returncode == 0, done.stderr[-2000:]
    for shown in ("AP (accuracy)", "AF (accuracy)", "FWT (accuracy)", "results.json"):
        assert shown in done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command, scratch):
    if command in SLOW:
        pytest.skip(SLOW[command])
    if command.startswith("python reports/") and not (scratch / "multirun").exists():
        # under pytest-xdist the sweeps above may have run in another worker's scratch
        sweep = next(c for c in COMMANDS if " -m " in c and c not in SLOW)
        assert run(sweep, scratch).returncode == 0
    done = run(command, scratch)
    assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
