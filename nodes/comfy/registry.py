"""Model files → node classes: the nodes ComfyUI gets from this pack.

Two folders are read: the pack's own ``nodes/models/`` and the user's models folder
(``<ComfyUI user>/runcomfy/models``, where ``catalog add`` writes), so pack updates never
delete a user's models.  A broken file is logged and skipped: one bad model must not stop
ComfyUI from loading the others.
"""
from __future__ import annotations

import json
import logging

from ..core.errors import ConfigError
from ..spec.model import ModelSpec, SchemaError
from ..spec.models import PACK_MODELS, model_files, read_model
from .factory import make_node_class
from .generic import DISPLAY_NAME as GENERIC_NAME, NODE_ID as GENERIC_ID, generic_node
from .host import existing_node_ids
from .load_result import DISPLAY_NAME as LOAD_NAME, NODE_ID as LOAD_ID, load_result_node

log = logging.getLogger("runcomfy")


def load_specs(folders, existing: set[str] = frozenset()) -> list[ModelSpec]:
    """Every usable model, first file winning when two share a node id.

    A file that cannot become a working node (unreadable, not JSON, a schema with unusable
    values, a node id ComfyUI or another pack already has) is skipped with one log line
    naming the file and the reason; it never affects the other models or the pack.
    """
    specs: dict[str, ModelSpec] = {}
    for path in model_files(folders):
        try:
            spec = read_model(path)
            check_node(spec)
        except (OSError, ValueError, SchemaError) as e:
            log.warning("RunComfy: skipping model file %s: %s", path, e)
            continue
        except Exception as e:  # noqa: BLE001 - one bad file must never stop the pack loading
            log.warning("RunComfy: skipping model file %s: %s: %s", path, type(e).__name__, e)
            continue
        if spec.node_id in specs:
            log.warning("RunComfy: skipping model file %s: it repeats node id %s from %s", path,
                        spec.node_id, specs[spec.node_id].path)
            continue
        if spec.node_id in existing:
            log.warning("RunComfy: skipping model file %s: node id %s already belongs to ComfyUI "
                        "or another node pack; give the file another 'node_id'", path, spec.node_id)
            continue
        specs[spec.node_id] = spec
    return list(specs.values())


def check_node(spec: ModelSpec) -> None:
    """Build the node and its INPUT_TYPES once, now, as ComfyUI will (and JSON-encode them,
    as /object_info does), so a schema that cannot work fails at load, not in the UI."""
    cls = make_node_class(spec, None)
    json.dumps(cls.INPUT_TYPES(), allow_nan=False)


def tool_nodes(rt) -> dict[str, tuple[type, str]]:
    """The pack's nodes that are not a model: node id → (class, display name)."""
    return {GENERIC_ID: (generic_node(rt), GENERIC_NAME), LOAD_ID: (load_result_node(rt), LOAD_NAME)}


def user_models(rt) -> list:
    """The user's models folder, when the host can name it (else only the pack's models load)."""
    try:
        return [rt.models_dir()]
    except ConfigError as e:
        log.warning("RunComfy: %s The models in the user folder are not loaded.", e)
        return []


def build_mappings(rt, folders=None, *, tools: bool = False) -> tuple[dict, dict]:
    """Node classes and display names of every model, running on ``rt``; ``tools`` adds the
    pack's other nodes (RunComfy Model for any model id, RunComfy Load Result), which
    ComfyUI gets."""
    folders = folders if folders is not None else [PACK_MODELS, *user_models(rt)]
    existing = existing_node_ids() if tools else set()
    classes, names = {}, {}
    for spec in load_specs(folders, existing):
        classes[spec.node_id] = make_node_class(spec, rt)
        names[spec.node_id] = f"RunComfy {spec.display_name}"
    if tools:
        for node_id, (cls, name) in tool_nodes(rt).items():
            if node_id in existing:
                log.warning("RunComfy: node id %s already exists in ComfyUI (another copy of this "
                            "pack?); not registering ours", node_id)
                continue
            if node_id in classes:
                log.warning("RunComfy: model file %s uses the reserved node id %s; skipped",
                            classes[node_id].SPEC.path, node_id)
            classes[node_id], names[node_id] = cls, name
    return classes, names
