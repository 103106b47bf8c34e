"""Training and evaluation: photo sets, pairs, fitting the map, fine-tuning the visual top, metrics and baselines."""
