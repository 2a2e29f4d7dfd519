"""The nodes ComfyUI gets from this pack: every model as a node, kept in step with the catalog.

Three sources, the first that has a model wins: the pack's own model files
(``nodes/models/``, their node ids and widgets never change), the user's model files
(``<ComfyUI user>/runcomfy/models``, what ``catalog add`` writes: a pinned schema), and the
catalog snapshot (app/snapshot.py: RunComfy's whole catalog, refreshed in the background).
A model the catalog no longer offers keeps its node under ``RunComfy/Unavailable`` so the
workflows that use it still open.  A broken model file is logged and skipped; a catalog
entry that cannot be a node never reaches the snapshot (app/sync.py).
"""
from __future__ import annotations

import json
import logging

from ..core.errors import ConfigError
from ..spec.model import ModelSpec, SchemaError, node_id_for
from ..spec.models import PACK_MODELS, model_files, read_model
from ..spec.schema import parse_model
from .factory import NodeFacts, category_of, describe, make_node_class, node_class, vendor_of
from .generic import DISPLAY_NAME as GENERIC_NAME, NODE_ID as GENERIC_ID, generic_node
from .host import existing_node_ids
from .load_result import DISPLAY_NAME as LOAD_NAME, NODE_ID as LOAD_ID, load_result_node

log = logging.getLogger("runcomfy")


def load_specs(folders, existing: set[str] = frozenset()) -> list[ModelSpec]:
    """Every usable model of the model files, first file winning when two share a node id.

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


def catalog_classes(rt, snapshot, taken_models: set, taken_ids: set) -> dict:
    """node id → class of every snapshot model (and every removed one, as unavailable) that
    no model file already gives; a node id two model ids would share goes to the first by id."""
    classes = {}
    for section, unavailable in ((snapshot.models, False), (snapshot.removed, True)):
        for model_id in sorted(section):
            node_id = node_id_for(model_id)
            if model_id in taken_models or node_id in taken_ids or node_id in classes:
                continue
            classes[node_id] = catalog_class(rt, model_id, node_id, section[model_id], unavailable)
    return classes


def catalog_class(rt, model_id: str, node_id: str, record: dict, unavailable: bool) -> type:
    doc, node = record["file"], record["node"]
    name = str(doc.get("display_name") or model_id)
    facts = NodeFacts(model_id, node_id, name, category_of(node["output"], vendor_of(model_id)),
                      node["output"], describe(str(doc.get("description") or ""), name, model_id,
                                               node["output"], node.get("takes", ()),
                                               node.get("price_unit", "")), unavailable)
    return node_class(facts, lambda: parse_model(doc), rt)


def user_models(rt) -> list:
    """The user's models folder, when the host can name it (else only the pack's models load)."""
    try:
        return [rt.models_dir()]
    except ConfigError as e:
        log.warning("RunComfy: %s The models in the user folder are not loaded.", e)
        return []


def tool_nodes(rt) -> dict[str, tuple[type, str]]:
    """The pack's nodes that are not a model: node id → (class, display name)."""
    return {GENERIC_ID: (generic_node(rt), GENERIC_NAME), LOAD_ID: (load_result_node(rt), LOAD_NAME)}


def build_mappings(rt, folders=None, *, tools: bool = False) -> tuple[dict, dict]:
    """Node classes and display names of the model files' models, running on ``rt``
    (``folders``, default the pack's and the user's); ``tools`` adds the pack's other nodes
    (RunComfy Model for any model id, RunComfy Load Result), which ComfyUI gets.  The
    catalog's models join them in comfy/library.py."""
    folders = folders if folders is not None else [PACK_MODELS, *user_models(rt)]
    existing = existing_node_ids() if tools else set()
    classes = {s.node_id: make_node_class(s, rt) for s in load_specs(folders, existing)}
    names = {node_id: cls.DISPLAY_NAME for node_id, cls in classes.items()}
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
