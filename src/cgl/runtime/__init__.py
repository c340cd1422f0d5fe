"""Running a job: the experiment pipeline, checkpoints and resume, signals, job locks, launchers."""
