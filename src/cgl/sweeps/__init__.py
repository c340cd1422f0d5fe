"""Sweeps: cgl's Hydra sweepers (grid and Optuna study) and the study storage they share."""
