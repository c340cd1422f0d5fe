"""Reports: Hydra sweeps -> one tidy table of runs -> matrices, paper tables and figures.

load.py reads the runs, aggregate.py turns seeds into statistics and picks hyperparameters,
matrices.py / tables.py / baselines.py write the outputs, render.py formats the cells.
make_tables.py, reproduce.py and best_trial.py are the command lines that the scripts of the
same name in the repository's reports/ folder run.
"""
