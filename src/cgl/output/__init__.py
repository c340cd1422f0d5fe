"""Output: results.json and W&B sinks, the end-of-run summary, terminal display and heatmaps."""
