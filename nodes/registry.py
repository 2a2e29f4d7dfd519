"""Finds model files and turns them into node classes.

Two folders are read: the pack's own ``nodes/models/`` and the user's models folder
(``<ComfyUI user>/runcomfy/models``, where `add_model` writes), so pack updates never
delete a user's models.  A broken file is logged and skipped: one bad model must not
stop ComfyUI from loading the others.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from . import host
from .factory import make_node_class
from .schema import ModelSpec, SchemaError, parse_model

log = logging.getLogger("runcomfy")
PACK_MODELS = Path(__file__).resolve().parent / "models"


def user_models_dir() -> Path:
    return host.user_dir() / "models"


def model_files(folders=None) -> list[Path]:
    folders = folders if folders is not None else [PACK_MODELS, user_models_dir()]
    files = []
    for folder in folders:
        if Path(folder).is_dir():
            files += sorted(Path(folder).glob("*.json"))
    return files


def load_specs(folders=None) -> list[ModelSpec]:
    """Every readable model, first file winning when two share a node id."""
    specs: dict[str, ModelSpec] = {}
    for path in model_files(folders):
        try:
            spec = parse_model(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, ValueError, SchemaError) as e:
            log.warning("RunComfy: skipping model file %s: %s", path, e)
            continue
        if spec.node_id in specs:
            log.warning("RunComfy: %s repeats node id %s from %s; skipped", path,
                        spec.node_id, specs[spec.node_id].path)
            continue
        specs[spec.node_id] = spec
    return list(specs.values())


def build_mappings(folders=None, *, generic: bool = False) -> tuple[dict, dict]:
    """Node classes and display names of every model; ``generic`` adds the "RunComfy Model
    (any model id)" node (category "RunComfy", not "RunComfy/<model category>")."""
    classes, names = {}, {}
    for spec in load_specs(folders):
        classes[spec.node_id] = make_node_class(spec)
        names[spec.node_id] = f"RunComfy {spec.display_name}"
    if generic:
        from .generic import DISPLAY_NAME, NODE_ID, RunComfyModel
        if NODE_ID in classes:
            log.warning("RunComfy: model file %s uses the generic node's id %s; the generic "
                        "node keeps it", classes[NODE_ID].SPEC.path, NODE_ID)
        classes[NODE_ID] = RunComfyModel
        names[NODE_ID] = DISPLAY_NAME
    return classes, names
