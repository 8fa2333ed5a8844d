"""`bertclf sweep`: hyperparameter search over config keys, with Optuna as the engine.

space (what may vary, checked against the config schema) -> study (Optuna storage,
sampler, pruner) -> runner (trials as ordinary training runs) -> results (table,
best.yaml, sweep.json, the sweep page).
"""
