"""`bertclf export`: a finished run's model in another format (ONNX), checked against the run.

The formats' writers are modules of their own (`serving.onnx_export`); this is the one
entry the CLI, the Python API and training's `export.onnx` call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bertclf.errors import ConfigError

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)


def export_run(run_dir: Path, format: str = "onnx", quantize: Optional[str] = None, data=None,
               encoder=None) -> dict:
    """Exports `run_dir` in `format`; returns the export's record (see `serving.onnx_export`).

    Raises:
        ConfigError: An unknown format or quantisation.
        BertclfError: The run is unfinished, or the export's checks fail.
    """
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize {quantize}: choose one of {', '.join(QUANTIZATIONS)}")
    from bertclf.runtime.tf_setup import import_tensorflow
    from bertclf.serving.onnx_export import export_onnx

    import_tensorflow()
    return export_onnx(run_dir, quantize, data=data, encoder=encoder)
