"""Model files: the pack's own (``nodes/models/``) and the user's (``<user>/runcomfy/models``),
read into ModelSpecs.  A file that cannot be read is reported with its reason, never fatal."""
from __future__ import annotations

import json
from pathlib import Path

from .model import ModelSpec, SchemaError
from .schema import parse_model

PACK_MODELS = Path(__file__).resolve().parents[1] / "models"


def model_files(folders) -> list[Path]:
    files = []
    for folder in folders:
        if Path(folder).is_dir():
            files += sorted(Path(folder).glob("*.json"))
    return files


def read_model(path: Path) -> ModelSpec:
    """One model file; SchemaError (or OSError, ValueError) saying why it cannot be a model."""
    return parse_model(json.loads(Path(path).read_text(encoding="utf-8")), str(path))


def pack_model_ids() -> dict[str, str]:
    """model_id → display name of the models shipped in the pack's own folder."""
    found = {}
    for path in model_files([PACK_MODELS]):
        try:
            spec = read_model(path)
        except (OSError, ValueError, SchemaError):
            continue
        found[spec.model_id] = spec.display_name
    return found
