"""The generic "RunComfy Model" node: any model id, its arguments as JSON, up to 3 images,
a video and an audio clip (each kind encoded by its entry in the media kinds table).

For models that have no node of their own yet.  Nothing is checked against a schema
here (the node has none): the service checks the body and answers 422 before anything
is paid.  What is checked locally, before the submit: the model id, that ``arguments``
is a JSON object, and that connected images encode.  The journal, live status, Cancel,
reuse and list rules are those of every model node: it runs the same pipeline
(app/pipeline.py) with its own plan.

Widget order is part of the saved-workflow contract: append new widgets only.
"""
from __future__ import annotations

import json
import re

from ..core.errors import InputError
from ..inputs.encoders import ENCODERS
from ..results.outputs import ANY_RESULT, output_tooltips, return_types
from ..spec.kinds import MAIN_OUTPUTS, MEDIA_KIND
from ..spec.model import MEDIA, Field, ModelSpec
from ..inputs.widgets import FRAME_OPTIONS
from .factory import CATEGORY_ROOT

NODE_ID = "RunComfy_Model"
DISPLAY_NAME = "RunComfy Model (any model id)"
TITLE = "RunComfy Model"
SOCKETS = ("image_1", "image_2", "image_3")
# appended after the images: socket → (media kind, the widget naming its request key, default key)
MEDIA_SOCKETS = {"video": ("video", "video_field", "video_url"),
                 "audio": ("audio", "audio_field", "audio_url")}
OUTPUTS = MAIN_OUTPUTS      # the widget's choices: the output kinds in their table's order (append only)
FRAME_DEFAULTS = {name: opts["default"] for name, (_, opts) in FRAME_OPTIONS}


def input_types() -> dict:
    required = {
        "model_id": ("STRING", {
            "default": "", "multiline": False, "placeholder": "wan-ai/wan-2-2/image-to-video",
            "tooltip": "The RunComfy model id, as on the model's API page "
                       "(e.g. wan-ai/wan-2-2/image-to-video)."}),
        "arguments": ("STRING", {
            "default": "{}", "multiline": True,
            "tooltip": "The request body as a JSON object, keys exactly as in the model's input "
                       "schema, e.g. {\"prompt\": \"a cat\", \"duration\": 5}. Connected images are "
                       "added under 'image_field'. RunComfy checks it; a rejected body is not paid."}),
        "image_field": ("STRING", {
            "default": "image_url", "multiline": False,
            "tooltip": "The request key the connected images go into. A key ending in 's' (e.g. "
                       "image_urls), or two or more connected images, sends a list."}),
        "output": (list(OUTPUTS), {
            "default": "video",
            "tooltip": "What the model returns. Every output is filled from whatever the result "
                       "carries either way: frames from its video (or its images), audio from the "
                       "video's sound or an audio file."}),
    }
    for name, shape in FRAME_OPTIONS:
        required[name] = shape
    optional = {name: ("IMAGE", {"tooltip": f"Optional image {i}: sent as a PNG data URI under "
                                            "'image_field', in socket order."})
                for i, name in enumerate(SOCKETS, start=1)}
    for socket, (kind_name, widget, default) in MEDIA_SOCKETS.items():   # appended: never reorder
        kind = MEDIA_KIND[kind_name]
        required[widget] = ("STRING", {"default": default, "multiline": False,
                                       "tooltip": f"The request key the connected {socket} goes into."})
        optional[socket] = (kind.socket_type, {"tooltip": f"Optional: {kind.connect_hint}; sent "
                                                          f"inline under '{widget}'."})
    return {"required": required, "optional": optional, "hidden": {"unique_id": "UNIQUE_ID"}}


def check_model_id(value) -> str:
    model_id = str(value or "").strip().strip("/")
    if not model_id:
        raise InputError(f"{TITLE}: widget 'model_id' is empty. Give a RunComfy model id, e.g. "
                         "wan-ai/wan-2-2/image-to-video (it is on the model's API page).")
    if "://" in model_id or re.search(r"[\s?#]", model_id):
        raise InputError(f"{TITLE}: widget 'model_id' is {model_id[:80]!r}, which is not a model "
                         "id. Give the id only (e.g. wan-ai/wan-2-2/image-to-video), not a link "
                         "or text with spaces.")
    return model_id


def parse_arguments(text) -> dict:
    text = "" if text is None else str(text)
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{TITLE}: widget 'arguments' is not valid JSON: {e.msg} at line "
                         f"{e.lineno} column {e.colno}. Write a JSON object, e.g. "
                         "{\"prompt\": \"a cat\"}.") from None
    if not isinstance(value, dict):
        raise InputError(f"{TITLE}: widget 'arguments' must be a JSON object ({{\"key\": value, "
                         f"…}}), not a JSON {type(value).__name__}.")
    return value


def minimal_spec(model_id: str, output: str) -> ModelSpec:
    """What its plan needs: model id, output kind and a display name; no fields."""
    return ModelSpec(model_id=model_id, node_id=NODE_ID, display_name=f"{TITLE} ({model_id})",
                     category="", output=output, fields=())


def image_key(values: dict) -> str:
    """The request key connected images go into (checked only when images are connected)."""
    key = str(values.get("image_field") or "").strip()
    if not key:
        raise InputError(f"{TITLE}: images are connected but widget 'image_field' is empty. Give "
                         "the request key they go into (e.g. image_url or image_urls).")
    return key


def media_key(values: dict, socket: str) -> str:
    _, widget, default = MEDIA_SOCKETS[socket]
    key = str(values.get(widget, default) or "").strip()
    if not key:
        raise InputError(f"{TITLE}: a {socket} is connected but widget '{widget}' is empty. Give "
                         f"the request key it goes into (e.g. {default}).")
    return key


def connected_media(values: dict) -> list[tuple[str, str, object]]:
    """(socket, request key, value) of the connected video / audio sockets."""
    return [(socket, media_key(values, socket), values[socket])
            for socket in MEDIA_SOCKETS if values.get(socket) is not None]


def encode_connected(spec: ModelSpec, kind_name: str, key: str, socket: str, value):
    """One connected value as its kind's encoder sends it (no model limits: no schema here)."""
    from ..inputs.prepare import Context, Item   # deferred: the encoders load torch / av / PIL
    from ..inputs.rules import Limits
    f = Field(key=key, name=socket, kind=MEDIA, media=kind_name)
    return ENCODERS[kind_name].encode(Item(f"input '{socket}'", socket, value),
                                      Context(spec.display_name, f, Limits(), True, 16.0))


def build_body(spec: ModelSpec, values: dict) -> tuple[dict, list[str]]:
    """(arguments + connected media (data URIs, no model limits here) → the request body, notes)."""
    body, notes = parse_arguments(values.get("arguments", "{}")), []
    for socket, key, value in connected_media(values):
        if key in body:
            notes.append(f"'{key}' in arguments is replaced by the connected {socket}.")
        encoded = encode_connected(spec, MEDIA_SOCKETS[socket][0], key, socket, value)
        body[key] = encoded.uri
        notes += encoded.notes
    connected = [(name, values.get(name)) for name in SOCKETS if values.get(name) is not None]
    if not connected:
        return body, notes
    key = image_key(values)
    urls = []
    for name, tensor in connected:
        encoded = encode_connected(spec, "image", key, name, tensor)
        urls.append(encoded.uri)
        notes += encoded.notes
    if key in body:
        notes.append(f"'{key}' in arguments is replaced by the connected image(s).")
    body[key] = urls if key.endswith("s") or len(urls) > 1 else urls[0]
    return body, notes


def media_of(values: dict, legacy: bool = False) -> dict:
    """The connected media as content hashes, by request key (``legacy``: as version 2 hashed)."""
    connected = [values.get(name) for name in SOCKETS if values.get(name) is not None]
    media = {image_key(values): [ENCODERS["image"].digest(t, legacy) for t in connected]} \
        if connected else {}
    for socket, key, value in connected_media(values):
        media[f"{socket}:{key}"] = [ENCODERS[MEDIA_SOCKETS[socket][0]].digest(value, legacy)]
    return media


def generic_plan(rt, values: dict):
    """The node's values → its plan: the model id, the arguments (a JSON object that can be
    sent) and the connected media checked; the media encoded only if the job is new."""
    from ..app.plans import Plan, Prepared       # deferred: the first job loads torch / av / PIL
    from ..inputs.fingerprint import fingerprint, legacy_fingerprint
    from ..inputs.request import encode_body
    from ..spec.estimate import estimate
    model_id = check_model_id(values.get("model_id"))
    output = str(values.get("output") or "video")
    if output not in OUTPUTS:
        raise InputError(f"{TITLE}: widget 'output' is {output!r}; choose one of "
                         f"{', '.join(OUTPUTS)}.")
    spec = minimal_spec(model_id, "video")          # its outputs are the video node's, always
    arguments = parse_arguments(values.get("arguments", "{}"))
    encode_body(arguments, f"{TITLE}: widget 'arguments'")      # NaN, bad text: fail now
    media = media_of(values)

    def prepare() -> Prepared:
        body, notes = build_body(spec, values)
        earlier = (legacy_fingerprint(model_id, body),
                   fingerprint(model_id, arguments, media_of(values, legacy=True), {}, 2))
        return Prepared(encode_body(body, TITLE), earlier, tuple(notes))

    options = {k: values.get(k, d) for k, d in FRAME_DEFAULTS.items()}
    return Plan(model_id, spec.display_name, ANY_RESULT, options,
                fingerprint=fingerprint(model_id, arguments, media, {}),
                estimate=estimate(spec, arguments, rt.prices.get(spec)), prepare=prepare)


def generic_node(rt) -> type:
    """The node class, running its jobs on the runtime ``rt``."""

    class RunComfyModel:
        """Run any RunComfy model by id; arguments as JSON."""

        @classmethod
        def INPUT_TYPES(cls):
            return input_types()

        RETURN_TYPES = return_types(ANY_RESULT)
        RETURN_NAMES = ANY_RESULT
        OUTPUT_TOOLTIPS = output_tooltips(ANY_RESULT)
        INPUT_IS_LIST = True                 # lists in: one job per item, as every model node
        OUTPUT_IS_LIST = tuple(True for _ in RETURN_NAMES)
        FUNCTION = "run"
        CATEGORY = CATEGORY_ROOT
        DESCRIPTION = ("Runs any RunComfy model by its id, for models without a node of their own: "
                       "give the request body as JSON in 'arguments', connect up to three images, "
                       "a video and an audio clip. "
                       "Each run is a paid RunComfy job; RunComfy checks the body before charging.")

        async def run(self, **values):
            from ..app.pipeline import run_node  # deferred: the first job loads torch, PyAV and PIL
            return await run_node(rt, generic_plan, values)

    return RunComfyModel
