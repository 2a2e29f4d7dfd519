"""Generated catalog models, for a catalog the size of RunComfy's (``Catalog(size=N)``).

Model k is ``<vendor>/<family>-<n>/<task>`` and is the same whatever the catalog's size
(its random choices are seeded by k).  Tasks and what they output:
text-to-video, image-to-video (video), text-to-image, image-to-image (image),
text-to-audio (audio), image-to-3d (3d).

The schemas have the real catalog's shapes and quirks: a prompt and a ``negative_prompt``
with ``"default": null``, a seed allowing -1 (``minimum: -1``), a video duration given
as an enum of numeric strings ("5", "10"), integer width/height with ``multipleOf``, a
decimal over a wide range (0..600, ``multipleOf`` 0.1) and a ``"type": "float"``, an
``image_url`` with ``validations`` (with or without a ``format``), lists of up to 9, 12
or 16 image links, and often a ``required`` key that ``properties`` lacks (a leftover of
the workflow behind the model).  Each schema is 2-8 KB of JSON; each model has a price.
"""
from __future__ import annotations

import json
import random

VENDORS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell",
           "cyberdyne", "soylent", "wonka", "aperture")
FAMILIES = ("dream", "motion", "vista", "pixel", "echo", "forge", "lumen", "nova")
TASKS = {"text-to-video": "video", "image-to-video": "video", "text-to-image": "image",
         "image-to-image": "image", "text-to-audio": "audio", "image-to-3d": "3d"}
UNITS = {"video": (("second", 0.02, 0.20), ("request", 0.20, 1.50)),
         "image": (("image", 0.01, 0.08), ("request", 0.02, 0.10)),
         "audio": (("second", 0.001, 0.01), ("request", 0.05, 0.30)),
         "3d": (("request", 0.10, 0.60),)}
SAYS = {"video": "a short video clip", "image": "images", "audio": "an audio track",
        "3d": "a textured 3D mesh (GLB)"}
FILLER = ("Longer values give more control but take longer to process.",
          "Leave empty to let the model decide.",
          "This setting is passed to the underlying workflow unchanged.",
          "Values outside the recommended range may produce artifacts.",
          "Changing this may affect the price of the request.",
          "See the model page for examples of good values.",
          "The default works well for most inputs.",
          "Higher values follow the prompt more closely; lower values are more creative.")
LEFTOVERS = ("workflow_api_json", "94_seed", "client_id", "extra_pnginfo")
MIN_BYTES, MAX_BYTES = 2048, 8192


def model_id(k: int) -> str:
    task = list(TASKS)[k % len(TASKS)]
    rest = k // len(TASKS)
    vendor = VENDORS[rest % len(VENDORS)]
    rest //= len(VENDORS)
    family = FAMILIES[rest % len(FAMILIES)]
    return f"{vendor}/{family}-{rest // len(FAMILIES) + 1}/{task}"


def generated_models(count: int, taken=frozenset()) -> list[dict]:
    """The first ``count`` generated models whose ids are not ``taken``."""
    out, k = [], 0
    while len(out) < count:
        if model_id(k) not in taken:
            out.append(generated_model(k))
        k += 1
    return out


def generated_model(k: int) -> dict:
    rng = random.Random(f"runcomfy-sim-model-{k}")
    mid = model_id(k)
    vendor, family, task = mid.split("/")
    output = TASKS[task]
    title = task.replace("-", " ").title().replace(" To ", " to ")
    name = f"{vendor.title()} {family.split('-')[0].title()} {family.split('-')[1]}"
    unit, lo, hi = rng.choice(UNITS[output])
    price = round(rng.uniform(lo, hi), 3 if lo < 0.01 else 2)
    schema = sized(rng, schema_for(task, rng))
    return {
        "model_id": mid, "display_name": f"{name} {title}",
        "description": (f"{name} makes {SAYS[output]} from "
                        f"{'a text prompt' if task.startswith('text') else 'an input image'}. "
                        + " ".join(rng.sample(FILLER, 2))),
        "categories": [vendor.title(), title], "kind": task, "output": output,
        "base_price_usd": price, "price_unit": unit,
        "pricing_note": f"Billed per {unit}." if unit != "request" else "Flat price per request.",
        "source": "simulator generated catalog (made up for tests and benchmarks)",
        "input_schema": schema,
    }


def text(rng: random.Random, first: str, extra: int = 2) -> str:
    return " ".join([first, *rng.sample(FILLER, rng.randint(0, extra))])


def schema_for(task: str, rng: random.Random) -> dict:
    output = TASKS[task]
    props: dict[str, dict] = {}
    required = []
    if task.startswith("image"):
        props["image_url"] = image_url(rng)
        required.append("image_url")
    if output != "3d":
        props["prompt"] = {"title": "Prompt", "type": "string",
                           "description": text(rng, f"Describe the {output} to generate."),
                           "maxLength": rng.choice([800, 1000, 2000, 2500])}
        if task.startswith("text"):
            required.insert(0, "prompt")
        props["negative_prompt"] = {"title": "Negative Prompt", "type": "string", "default": None,
                                    "description": text(rng, "What to avoid."), "maxLength": 500}
    if output == "video":
        choices = rng.choice([["5", "10"], ["4", "6", "8"], ["5", "10", "15"]])
        props["duration"] = {"title": "Duration", "type": "string", "enum": choices,
                             "default": choices[0], "description": text(rng, "Clip length in seconds.")}
        if rng.random() < 0.5:
            props.update(size_fields(rng, 1280, 720))
        else:
            props["resolution"] = {"title": "Resolution", "type": "string",
                                   "enum": ["480p", "720p", "1080p"], "default": "720p",
                                   "description": text(rng, "Output resolution.")}
        props["motion_strength"] = {"title": "Motion Strength", "type": "number", "minimum": 0,
                                    "maximum": 600, "multipleOf": 0.1, "default": 127.5,
                                    "description": text(rng, "How much the scene moves.")}
        props["generate_audio"] = {"title": "Generate Audio", "type": "boolean", "default": False,
                                   "description": text(rng, "Add a sound track to the clip.")}
    elif output == "image":
        props.update(size_fields(rng, 1024, 1024))
        props["num_images"] = {"title": "Number of Images", "type": "integer", "minimum": 1,
                               "maximum": 4, "default": 1, "description": text(rng, "Images to make.")}
        if task == "image-to-image":
            props["strength"] = {"title": "Strength", "type": "number", "minimum": 0, "maximum": 1,
                                 "default": 0.75, "description": text(rng, "How far to move from the input.")}
    elif output == "audio":
        props["duration"] = {"title": "Duration", "type": "number", "minimum": 0, "maximum": 600,
                             "multipleOf": 0.1, "default": 10.0,
                             "description": text(rng, "Length of the audio in seconds.")}
        props["output_format"] = {"title": "Output Format", "type": "string", "enum": ["wav", "mp3"],
                                  "default": "wav", "description": text(rng, "File format.")}
    else:
        props["texture_size"] = {"title": "Texture Size", "type": "integer", "enum": [512, 1024, 2048],
                                 "default": 1024, "description": text(rng, "Texture edge in pixels.")}
        props["face_count"] = {"title": "Face Count", "type": "integer", "minimum": 1000,
                               "maximum": 200000, "default": 20000, "description": text(rng, "Mesh faces.")}
    if output in ("video", "image"):
        most = rng.choice([9, 12, 16])
        props["reference_image_urls"] = {
            "title": "Reference Images", "type": "array", "default": None,
            "items": {"type": "string", "format": "image_uri"}, "maxItems": most,
            "description": text(rng, f"Up to {most} images whose style or subject to follow.")}
        props["guidance_scale"] = {"title": "Guidance Scale", "type": "float", "minimum": 1,
                                   "maximum": 20, "default": 7.5,
                                   "description": text(rng, "Prompt adherence.")}
    props["seed"] = {"title": "Seed", "type": "integer", "minimum": -1, "maximum": 2147483647,
                     "default": -1, "description": text(rng, "Random seed; -1 picks one at random.")}
    props["enable_safety_checker"] = {"title": "Safety Checker", "type": "boolean", "default": True,
                                      "description": text(rng, "Refuse unsafe outputs.")}
    if rng.random() < 0.4:
        required.append(rng.choice(LEFTOVERS))      # listed as required, not in properties
    return {"type": "object", "title": "Input", "required": required, "properties": props}


def image_url(rng: random.Random) -> dict:
    lo, hi = rng.choice([(256, 4096), (300, 2000), (360, 2000)])
    prop = {"title": "Image", "type": "string",
            "description": text(rng, f"Input image, {lo}-{hi} px per side, under 10 MB."),
            "validations": [
                {"validation_rule": "width_pixels>", "validation_value": lo,
                 "validation_error": f"The image must be at least {lo} pixels wide."},
                {"validation_rule": "height_pixels>", "validation_value": lo,
                 "validation_error": f"The image must be at least {lo} pixels high."},
                {"validation_rule": "width_pixels<", "validation_value": hi,
                 "validation_error": f"The image must be at most {hi} pixels wide."},
                {"validation_rule": "file_size_mb<", "validation_value": 10,
                 "validation_error": "File size must be less than 10 MB."},
                {"validation_rule": "width/height<", "validation_value": 2.5,
                 "validation_error": "The aspect ratio must be at most 2.5."}]}
    if rng.random() < 0.7:
        prop["format"] = "image_uri"
    return prop


def size_fields(rng: random.Random, width: int, height: int) -> dict:
    step = rng.choice([8, 16, 64])
    return {key: {"title": key.title(), "type": "integer", "minimum": 256, "maximum": 2048,
                  "multipleOf": step, "default": value,
                  "description": text(rng, f"Output {key} in pixels, a multiple of {step}.")}
            for key, value in (("width", width), ("height", height))}


def sized(rng: random.Random, schema: dict) -> dict:
    """Lengthen property descriptions until the schema is at least MIN_BYTES of JSON; cut
    them when it is over MAX_BYTES."""
    props = list(schema["properties"].values())
    aim = rng.randint(MIN_BYTES, MAX_BYTES - 1024)
    size, i = len(json.dumps(schema)), 0
    while size < aim:                     # the fillers are plain ASCII: each adds its length
        prop, more = props[i % len(props)], " " + FILLER[(i * 3) % len(FILLER)]
        prop["description"] += more
        size += len(more)
        i += 1
    while len(json.dumps(schema)) > MAX_BYTES:
        prop = max(props, key=lambda p: len(p["description"]))
        prop["description"] = prop["description"][: len(prop["description"]) // 2]
    return schema
