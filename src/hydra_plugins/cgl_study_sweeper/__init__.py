"""cgl's Optuna sweeper as a Hydra plugin (Hydra instantiates sweepers only from here)."""
