"""RunComfy's catalog → model files: a catalog answer (or a saved schema) made into a model
file in the user's models folder, and the catalog listed page by page (bounded).

The file goes to the user's models folder (``<ComfyUI user>/runcomfy/models``), never into
the pack, so pack updates keep it.  ``add_model`` stores the catalog's price with the
schema and reports one line for each thing worth knowing: media fields and their sockets,
fields given as JSON text, rules not checked before the submit, catalog quirks, the outputs.
The command line is ``nodes/catalog.py`` (``python -m nodes.catalog``).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ApiError, RunComfyError
from ..core.files import write_atomic
from ..inputs.rules import read_limits
from ..remote.transport import parse_answer
from ..results.outputs import return_names
from ..spec.kinds import MAIN_OUTPUTS, MEDIA_KIND, OUTPUT_KINDS
from ..spec.model import SchemaError
from ..spec.models import pack_model_ids
from ..spec.schema import parse_model
from .plain_host import PACK_ROOT

PRICE_KEYS = ("base_price_usd", "price_unit", "pricing_note")


class CatalogError(RunComfyError):
    """A model that cannot be added (unknown, unusable schema, or would replace another)."""


# -- catalog answer → model file ------------------------------------------------------------
IMAGE_TASKS = r"\b(edit|upscal\w*|inpaint\w*|outpaint\w*|remove[-_ ]?background|relight\w*|try[-_ ]?on)\b"


def infer_output(entry: dict) -> str:
    """The output kind (spec/kinds.py) from what the entry says about itself.

    An explicit ``output`` wins; then an "…-to-video" / "…-to-image" / "…-to-speech" / "…-to-3d"
    (each kind's words) in kind, categories, model id or description (in that order); then
    a text naming only one kind; then an image task's word (an "…/edit", an upscaler); else
    video.
    """
    if entry.get("output") in MAIN_OUTPUTS:
        return entry["output"]
    cats = entry.get("categories")
    cats = cats if isinstance(cats, list) else [cats] if cats else []
    texts = [str(t).lower() for t in (entry.get("kind"), *cats, entry.get("model_id"),
                                      entry.get("description")) if t]
    for text in texts:
        for kind in OUTPUT_KINDS:
            if re.search(rf"\bto[-_ ]?({kind.words})s?\b", text):
                return kind.name
    for text in texts:
        named = {k.name for k in OUTPUT_KINDS if re.search(k.words, text)}
        if len(named) == 1:
            return named.pop()
    for text in texts:
        if re.search(IMAGE_TASKS, text):
            return "image"
    return "video"


def unwrap(entry):
    """A catalog answer as the entry itself: ``{"model": {…}}`` / ``{"data": {…}}`` wrappers
    taken off, an ``input_schema`` sent as JSON text parsed (both are tolerated, not documented)."""
    for key in ("model", "data"):
        if isinstance(entry, dict) and isinstance(entry.get(key), dict) and "input_schema" not in entry:
            entry = entry[key]
    if isinstance(entry, dict) and isinstance(entry.get("input_schema"), str):
        schema, problem = parse_answer(entry["input_schema"].encode("utf-8"))
        if not problem:                     # else reported below as "no 'input_schema' object"
            entry = {**entry, "input_schema": schema}
    return entry


def model_file_from_entry(entry: dict) -> dict:
    """A catalog entry (GET /v1/models/{id}) → a model file dict in the pack's format.

    A model file passes through unchanged in its keys (its ``output`` and ``category``
    are kept).  The node id derives from the model id, so it is not set here.
    """
    if not isinstance(entry, dict):
        raise CatalogError(f"A catalog entry must be a JSON object, not {type(entry).__name__}.")
    model_id = str(entry.get("model_id") or "").strip()
    if not model_id:
        raise CatalogError("The catalog entry has no 'model_id'.")
    if not isinstance(entry.get("input_schema"), dict):
        raise CatalogError(f"The catalog entry for {model_id} has no 'input_schema' object "
                           "(ask for it with include_schema=true, or save it from the model's "
                           "API page and use --from-file).")
    cats = entry.get("categories")
    cats = [c for c in (cats if isinstance(cats, list) else [cats]) if isinstance(c, str) and c.strip()]
    doc = {
        "model_id": model_id,
        "display_name": str(entry.get("display_name") or model_id),
        "category": str(entry.get("category") or (cats[0].strip() if cats else "Models")),
        "output": infer_output(entry),
        "description": str(entry.get("description") or ""),
        "source": str(entry.get("source") or ""),
        "input_schema": entry["input_schema"],
    }
    for key in PRICE_KEYS:              # the catalog's price, as it gives it
        if entry.get(key) is not None:
            doc[key] = entry[key]
    if entry.get("node_id"):         # a model file's own node id (its saved workflows use it)
        doc["node_id"] = entry["node_id"]
    return doc


def mapping_report(model_file: dict) -> list[str]:
    """One line per thing worth knowing about the new node: media fields and their sockets,
    fields given as JSON text, rules not checked before the submit, catalog quirks."""
    spec = parse_model(model_file)
    lines = [f"model: {note}" for note in spec.notes]
    for f in spec.fields:
        for note in f.notes:
            lines.append(f"field '{f.key}' → '{f.name}': {note}")
        if f.media:
            for rule, text in read_limits(f.validations, MEDIA_KIND[f.media].rules).unchecked:
                lines.append(f"field '{f.key}': rule '{rule}' is not checked before the submit "
                             f"(RunComfy checks it){f': {text}' if text else ''}")
    lines.append(f"outputs ({spec.output}): {', '.join(return_names(spec.output))}")
    return lines


# -- reading a saved schema file --------------------------------------------------------------
def model_file_from_doc(doc, model_id: str | None, where: str) -> dict:
    """A saved file's JSON in any of three shapes → a model file.

    A catalog entry or a model file (both carry ``model_id`` and ``input_schema``), an
    entry without its id, or a bare input schema ``{"type": "object", "properties": …}``
    (the model id must then be given).
    """
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: expected a JSON object (a catalog entry, a model file or "
                           f"an input schema), not {type(doc).__name__}.")
    if "input_schema" in doc:
        entry = dict(doc)
    elif isinstance(doc.get("properties"), dict):
        entry = {"input_schema": doc}
    else:
        raise CatalogError(f"{where}: neither a model file / catalog entry (no 'input_schema') "
                           "nor an input schema (no 'properties'). Save the model's input schema "
                           "JSON from its API page.")
    own = str(entry.get("model_id") or "").strip()
    if own and model_id and own != model_id:
        raise CatalogError(f"{where} is for model {own!r}, not {model_id!r}. Give the matching "
                           "model id (or leave it out to use the file's).")
    if not (own or model_id):
        raise CatalogError(f"{where} holds only an input schema: give the model id too, e.g. "
                           "'add wan-ai/wan-2-2/image-to-video --from-file schema.json'.")
    entry["model_id"] = own or model_id
    entry.setdefault("source", f"input schema saved to {Path(where).name}")
    return model_file_from_entry(entry)


# -- writing ----------------------------------------------------------------------------------
def slug(model_id: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", model_id.lower()).strip("-") or "model"


def inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def add_model(model_id: str | None = None, *, models_dir, schema_file: str | None = None,
              client=None, force: bool = False) -> tuple[Path, list[str]]:
    """Write the model file for ``model_id`` into the user's models folder ``models_dir``.

    The schema comes from ``schema_file`` when given (see model_file_from_doc), else from
    the catalog (``client.model``, or ``client()`` when it is a function making one).
    Returns (path written, mapping report).  Replacing a file of the same model is an
    update; a file of another model is kept unless ``force``.
    """
    model_id = (model_id or "").strip().strip("/") or None
    if schema_file:
        path = Path(schema_file).expanduser()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise CatalogError(f"Cannot read {path}: {e.strerror or e}.") from None
        except RecursionError:
            raise CatalogError(f"{path} is nested too deeply to read as JSON. Save the model's "
                               "input schema from its API page again.") from None
        except ValueError as e:
            raise CatalogError(f"{path} is not JSON: {e}.") from None
        model_file = model_file_from_doc(doc, model_id, str(path))
    else:
        if not model_id:
            raise CatalogError("Give a model id (e.g. 'wan-ai/wan-2-2/image-to-video') or a "
                               "saved schema file.")
        if callable(client):
            client = client()
        try:
            entry = client.model(model_id)
        except ApiError as e:
            if e.code != 400001 and e.http_status != 404:
                raise
            raise CatalogError(f"RunComfy's catalog does not know model {model_id!r} ({e}). "
                               "Check the id on the model's page, or save its input schema "
                               "from the API page and use --from-file.") from None
        entry = unwrap(entry)
        if isinstance(entry, dict) and not entry.get("model_id"):
            entry = {**entry, "model_id": model_id}
        if isinstance(entry, dict) and not entry.get("source"):
            entry = {**entry, "source": f"RunComfy catalog (GET /v1/models/{model_id}) on "
                                        f"{time.strftime('%Y-%m-%d')}"}
        model_file = model_file_from_entry(entry)

    try:
        spec = parse_model(model_file)
    except SchemaError as e:
        raise CatalogError(f"The schema of {model_file['model_id']} cannot become a node: {e}. "
                           "Nothing was written.") from None
    shipped = pack_model_ids()
    if spec.model_id in shipped:
        raise CatalogError(f"{spec.model_id} already ships with the pack as node "
                           f"'RunComfy {shipped[spec.model_id]}'; nothing was written.")

    folder = Path(models_dir)
    target = folder / f"{slug(spec.model_id)}.json"
    if inside(target, PACK_ROOT):
        raise CatalogError(f"Refusing to write {target}: it is inside the pack folder, which "
                           "pack updates replace. Use the ComfyUI user folder.")
    if target.exists() and not force:
        other = existing_model_id(target)
        if other != spec.model_id:
            what = f"model {other!r}" if other else "a file that is not a readable model file"
            raise CatalogError(f"{target} already holds {what}; not replacing it with "
                               f"{spec.model_id!r}. Move that file away first (or use --force).")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(model_file, indent=2, ensure_ascii=False) + "\n")
    return target, mapping_report(model_file)


def existing_model_id(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc.get("model_id") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


MAX_PAGES = 200            # 20,000 models at 100 a page: far more than RunComfy's catalog holds


@dataclass
class Listing:
    """What ``list`` found, and why it stopped early ("" when the catalog said it was done)."""
    models: list[dict] = field(default_factory=list)
    cut: str = ""              # "repeat": a page of models already listed; "pages": MAX_PAGES

    def summary(self) -> str:
        n = len(self.models)
        if self.cut == "repeat":
            return f"RunComfy's catalog kept sending the same page; listed {n} models."
        if self.cut == "pages":
            return (f"RunComfy's catalog was still sending models after {MAX_PAGES} pages; listed "
                    f"the first {n}.")
        return f"{n} model(s)."


def list_models(client, search: str = "", page: int = 100) -> Listing:
    """Every catalog entry matching ``search`` (GET /v1/models, all pages, no schemas).

    Bounded for a catalog that ignores ``offset`` (a page holding no model not listed yet
    ends the listing) or never ends (at most MAX_PAGES pages)."""
    listing, seen, offset = Listing(), set(), 0
    for _ in range(MAX_PAGES):
        items, total = page_of(client.models({
            "search": search, "limit": page, "offset": offset, "include_schema": "false"}))
        new = [m for m in items if isinstance(m, dict) and entry_key(m) not in seen]
        if items and not new:
            listing.cut = "repeat"
            return listing
        listing.models += new
        seen.update(entry_key(m) for m in new)
        offset += len(items)
        if not items or len(items) < page or (isinstance(total, int) and offset >= total):
            return listing
    listing.cut = "pages"
    return listing


def page_of(data) -> tuple[list[dict], int | None]:
    """(the items of one catalog page, the total it states or None)."""
    if isinstance(data, list):
        items, total = data, None
    else:
        items = data.get("models") or data.get("data") or data.get("items") or []
        total = data.get("total")
    return (items if isinstance(items, list) else []), total


def entry_key(entry: dict) -> str:
    """What tells two catalog entries apart: the model id (the whole entry when it has none)."""
    model_id = entry.get("model_id") if isinstance(entry, dict) else None
    return model_id if isinstance(model_id, str) else json.dumps(entry, sort_keys=True, default=str)
