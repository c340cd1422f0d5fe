"""Command line: python reports/best_trial.py SWEEP_DIR [--seeds 10] [--out DIR] [--run]

Step 2 of a hyperparameter search (docs/hparams.md). Step 1, the search
(`hparams_search=...`), ran one seed per configuration; a paper reports the chosen
configuration over many seeds. This takes the best trial of the study in SWEEP_DIR and
prints the command that runs its configuration (the search command's own overrides and the
trial's parameters) over `--seeds` seeds the search did not use, into its own sweep
directory; `--run` also runs it. Those runs are the evaluation: the reports count them, and
list the study's trials apart (`stage` in runs.csv).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from cgl.sweeps.study import STUDY_FILE, storage_url

#: The command line the evaluation runs: src/main.py of the checkout cgl is installed from
#: (editable, src layout: this file is src/cgl/reports/best_trial.py).
MAIN = Path(__file__).resolve().parents[2] / "main.py"

#: Override keys the evaluation sets itself (the seed) or must not keep (the search preset,
#: which would start a search again, and Hydra's own settings such as the sweep directory).
DROPPED = ("hparams_search", "seed", "hydra")


class StudyError(ValueError):
    """The directory holds no study, or no trial of it has completed."""


def best_trial(sweep_dir: Path, study_name: str | None = None) -> dict:
    """The best completed trial of the study in `sweep_dir`: its number, value and params,
    and its job's results.json."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (sweep_dir / STUDY_FILE).is_file():
        raise StudyError(f"{sweep_dir / STUDY_FILE}: no such file (a search's sweep directory)")
    url = storage_url(sweep_dir)
    names = [summary.study_name for summary in optuna.get_all_study_summaries(url)]
    if study_name is None and len(names) != 1:
        raise StudyError(f"{url} holds the studies {names}: name one with --study")
    study = optuna.load_study(study_name=study_name or names[0], storage=url)
    try:
        best = study.best_trial
    except ValueError:
        raise StudyError(f"no trial of study {study.study_name} has completed yet") from None
    results = json.loads((sweep_dir / str(best.number) / "results.json").read_text())
    return {"number": best.number, "value": best.value, "params": best.params, "results": results}


def search_seeds(sweep_dir: Path) -> set[int]:
    """The seeds the search's trials ran."""
    return {json.loads(path.read_text())["seed"] for path in sweep_dir.glob("*/results.json")}


def evaluation_overrides(results: dict, seeds: list[int], out: Path) -> list[str]:
    """The trial's overrides (the search command's and the trial's parameters) without
    DROPPED, then the seed sweep into `out`."""
    kept = [
        item
        for item in results["overrides"]
        if item.split("=", 1)[0].lstrip("+~").split(".")[0] not in DROPPED
    ]
    return [*kept, "-m", f"seed={','.join(map(str, seeds))}", f"hydra.sweep.dir={out}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="the search's hydra.sweep.dir")
    parser.add_argument("--seeds", type=int, default=10, help="how many (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="its sweep directory (default: SWEEP_DIR-seeds)")
    parser.add_argument("--study", help="the study's name, if the file holds several")
    parser.add_argument("--run", action="store_true", help="run the command too")
    args = parser.parse_args(argv)
    try:
        best = best_trial(args.sweep_dir, args.study)
    except StudyError as err:
        print(f"best_trial: error: {err}", file=sys.stderr)
        return 2
    used = search_seeds(args.sweep_dir)
    seeds = [seed for seed in range(args.seeds + len(used)) if seed not in used][: args.seeds]
    out = args.out or args.sweep_dir.with_name(f"{args.sweep_dir.name}-seeds")
    overrides = evaluation_overrides(best["results"], seeds, out)
    print(
        f"best trial {best['number']}: validation AP {best['value']:.4f} at seed(s) "
        f"{sorted(used)}, {best['params']}"
    )
    print(shlex.join(["python", "src/main.py", *overrides]))
    if not args.run:
        return 0
    return subprocess.run([sys.executable, str(MAIN), *overrides]).returncode


if __name__ == "__main__":
    sys.exit(main())
