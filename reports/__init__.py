"""Reports: Hydra sweeps -> one tidy table of runs -> matrices, paper tables and figures.

load.py reads the runs, aggregate.py turns seeds into statistics and picks hyperparameters,
matrices.py / tables.py / baselines.py write the outputs, make_tables.py is the command line.
"""
