"""`bertclf sweep`: hyperparameter search over config keys, with Optuna as the engine.

space (what may vary, checked against the config schema) -> study (Optuna storage,
sampler, pruner) -> runner (trials as ordinary training runs) -> results (table,
best.yaml, sweep.json, the sweep page).
"""

import sys
import types


class _CallableModule(types.ModuleType):
    """`bertclf.sweep(...)` is the API function (bertclf.api.sweep) and `bertclf.sweep` this
    package: importing the package replaces the package attribute the lazy API answered with,
    so a second `bertclf.sweep(...)` in a process called a module. Calling the package calls
    the function."""

    def __call__(self, *args, **kwargs):
        from bertclf.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
