"""What a job will output, decided at submit: kinds, counts, sizes, lengths and sound.

A job's files are numbered ``output_<i>.<ext>``: first its ``count`` primary outputs
(the model's own kind), then any extras asked for with ``[sim:also=audio]`` /
``[sim:also=image]``.  The plan also gives the quantities a price is charged on.

How long a video is: its frame and fps keys, else its ``duration`` (× fps, plus one, as
Wan clips are), else — for a model with neither among its inputs — its input: a video
input's frame count and fps (video-to-video), or an audio input's length
(audio-to-video, frames = round(seconds × fps)).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .audio import prompt_pitch
from .jobs import FRAME_KEYS, Sound, image_params, input_picture, video_params
from .mesh import picture_colour
from .probe import parse_data_uri, probe
from .validate import media_kind

UNKNOWN_SECONDS = 5.0      # a linked (not fetched) audio input is taken to be this long
SOUND_SWITCHES = ("generate_audio", "enable_audio")


@dataclass
class Output:
    kind: str                  # video | image | audio | 3d
    ext: str                   # mp4 | png | wav | mp3 | glb
    params: dict               # the MediaStore call's arguments


@dataclass
class Plan:
    kind: str                  # the model's output kind
    count: int                 # primary outputs
    seconds: float             # length of one primary video / audio output (0 for images)
    files: list[Output] = field(default_factory=list)
    extras: dict[str, int] = field(default_factory=dict)   # "audio"/"image" → file index


def plan_job(kind: str, schema: dict, body: dict, tokens: dict) -> Plan:
    count = int(tokens["n"]) if "n" in tokens else image_count(schema, body) if kind == "image" else 1
    count = max(0, count)       # [sim:n=0]: a completed result with an empty list
    prompt = prompt_of(body)
    if kind == "video":
        params = video_plan(schema, body, prompt)
        plan = Plan(kind, count, params["frames"] / params["fps"])
        plan.files = [Output("video", "mp4", params) for _ in range(count)]
    elif kind == "audio":
        sound, fmt = audio_plan(schema, body, prompt)
        plan = Plan(kind, count, sound.seconds)
        plan.files = [Output("audio", fmt, {"sound": Sound(sound.seconds, sound.freq + 20 * i),
                                             "fmt": fmt}) for i in range(count)]
    elif kind == "3d":         # a mesh coloured like the input picture (see mesh.py)
        plan = Plan(kind, count, 0.0)
        colour = picture_colour(input_picture(body))
        plan.files = [Output("3d", "glb", {"colour": colour}) for _ in range(count)]
    else:
        plan = Plan(kind, count, 0.0)
        plan.files = [Output("image", "png", {**image_params(body), "index": i}) for i in range(count)]
    add_extras(plan, str(tokens.get("also", "")), body, prompt)
    return plan


def add_extras(plan: Plan, also: str, body: dict, prompt: str) -> None:
    """``[sim:also=audio]`` adds a WAV as long as the output; ``[sim:also=image]`` a PNG."""
    for extra in (a.strip() for a in also.split(",")):
        if extra == "audio" and plan.kind != "audio":
            sound = Sound(plan.seconds or 1.0, prompt_pitch(prompt))
            plan.files.append(Output("audio", "wav", {"sound": sound, "fmt": "wav"}))
        elif extra == "image" and plan.kind != "image":
            plan.files.append(Output("image", "png", {**image_params(body), "index": 0}))
        else:
            continue
        plan.extras[extra] = len(plan.files) - 1


def image_count(schema: dict, body: dict) -> int:
    value = body.get("num_images", schema.get("properties", {}).get("num_images", {}).get("default", 1))
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def prompt_of(body: dict) -> str:
    return next((v for k, v in body.items() if "prompt" in k and isinstance(v, str)), "")


def inputs(schema: dict, body: dict, kind: str) -> list[str]:
    """The body's values for media fields of ``kind`` (data URIs and links), in order."""
    found = []
    for key, prop in schema.get("properties", {}).items():
        if key in body and media_kind(key, prop) == kind:
            value = body[key]
            found += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return found


def inline(values: list[str]) -> list[bytes]:
    out = []
    for value in values:
        if value.startswith("data:"):
            try:
                out.append(parse_data_uri(value)[1])
            except ValueError:
                pass
    return out


def facts_of(raw: bytes) -> dict:
    """probe(), or {} for bytes it cannot read (a dropped submit skips validation)."""
    try:
        return probe(raw)
    except ValueError:
        return {}


def video_plan(schema: dict, body: dict, prompt: str) -> dict:
    """frames, fps, width, height, picture and sound (None for a silent clip)."""
    params = video_params(body)
    params["picture"] = input_picture(body)
    videos, audios = inputs(schema, body, "video"), inputs(schema, body, "audio")
    driven = not has_length_keys(schema)
    if driven and videos:
        facts = next((facts_of(raw) for raw in inline(videos)), {})
        if facts.get("frames") and facts.get("fps"):
            params["frames"], params["fps"] = facts["frames"], max(1, round(facts["fps"]))
    seconds = params["frames"] / params["fps"]
    clips = inline(audios)
    if driven and audios and not videos:
        seconds = (facts_of(clips[0]).get("duration") if clips else None) or UNKNOWN_SECONDS
        params["frames"] = max(1, round(seconds * params["fps"]))
    params["sound"] = None
    if clips:
        params["sound"] = Sound(seconds, clip=clips[0])
    elif audios or any(body.get(k) is True for k in SOUND_SWITCHES):
        params["sound"] = Sound(seconds, prompt_pitch(prompt))
    return params


def has_length_keys(schema: dict) -> bool:
    names = {re.sub(r"^\d+_", "", k) for k in schema.get("properties", {})}
    return bool(names & {"duration", *FRAME_KEYS})


def audio_plan(schema: dict, body: dict, prompt: str) -> tuple[Sound, str]:
    props = schema.get("properties", {})
    seconds = body.get("duration", props.get("duration", {}).get("default", 5))
    fmt = body.get("output_format", props.get("output_format", {}).get("default", "wav"))
    try:
        seconds = max(0.1, float(seconds))
    except (TypeError, ValueError):
        seconds = 5.0
    return Sound(seconds, prompt_pitch(prompt)), "mp3" if fmt == "mp3" else "wav"
