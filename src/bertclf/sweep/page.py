"""The sweep page: one self-contained HTML file in the run report's style, figures inlined.

The figures are Optuna's own matplotlib visualisation (optimisation history,
parameter importances, slices), so they read the study exactly as Optuna does.
A figure a small study cannot support (importances need two completed trials
that differ) is named with the reason instead of failing the page.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional

from bertclf import files

TEMPLATE = "sweep.html.j2"


def write_page(study, summary: dict, path: Path, best_config: Optional[str] = None) -> Path:
    """Renders the sweep page for `study` (summary: bertclf.sweep.results.summarise) to `path`."""
    from bertclf.reporting.report import generated_now, template_environment
    from bertclf.sweep.results import duration, param_keys

    images, missing = _figures(study)
    keys = param_keys(summary)
    environment = template_environment()
    # Searched values span magnitudes (a learning rate of 2e-05): three significant digits.
    environment.filters["setting"] = lambda value: f"{value:.3g}" if isinstance(value, float) else str(value)
    environment.filters["duration"] = duration
    several_hosts = len({row["host"] for row in summary["trials"] if row.get("host")}) > 1
    page = environment.get_template(TEMPLATE).render(
        summary=summary, keys=keys, several_hosts=several_hosts, images=images, missing=missing, best_config=best_config,
        generated=generated_now())
    files.write_text_atomic(path, page)
    return path


def _figures(study) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    from bertclf.reporting.report import inline_png

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    images, missing = [], []
    drawings = (("optimisation history", optuna_plots.plot_optimization_history, 1),
                ("parameter importances", optuna_plots.plot_param_importances, 2),
                ("slices", optuna_plots.plot_slice, 1))
    for name, draw, needed in drawings:
        if len(complete) < needed:
            missing.append((name, f"needs {needed} completed trial{'s' if needed > 1 else ''}, "
                                  f"the study has {len(complete)}"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = draw(study)
            images.append((name, inline_png(_figure_of(axes))))
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            missing.append((name, str(error).splitlines()[0][:200] or type(error).__name__))
    return images, missing


def _figure_of(axes: Any):
    import numpy as np

    first = np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes
    figure = first.figure
    figure.set_size_inches(max(figure.get_size_inches()[0], 6.4), 4.2)
    with warnings.catch_warnings():
        # Optuna's slice plot adds a colour bar's axes, which tight_layout cannot place (and says so).
        warnings.simplefilter("ignore", UserWarning)
        figure.tight_layout()
    return figure
