"""Evaluation: per-task scores (accuracy, ROC-AUC, Hits@K) and the metrics of accuracy matrices."""
