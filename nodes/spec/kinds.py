"""Kinds of media as data: what a model takes (media kinds) and what it returns (output kinds).

A media kind (image, mask, video, audio) says everything the pack needs about its inputs:
  * how a schema field is recognised: its ``format`` (on the property, or on ``items``),
    single (``*_uri``) or a list (``*_uris``, or an array); the key only as a fallback,
    when the property has no format at all;
  * which ComfyUI socket type feeds it (a comma list is a union: "VIDEO,IMAGE");
  * how a value is sent (a ``data:<mime>/…`` URI, or an https link), its inline size limit,
    and which ``validations`` rules apply to it.
An output kind (video, image, audio, 3D model) says how its files are found in a result (keys
and file extensions), how a catalog entry names it, and which outputs a node whose model makes
it has.

Each kind is one record here plus its behaviour a layer up: a media kind's encoder
(``inputs/encoders.py``), an output kind's decoder and outputs (``results/outputs.py``).
The schema reader, the node factory, the request builder, the fingerprint, the result
reader and the catalog tool all derive from these tables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class MediaKind:
    name: str                    # "image": also the plain noun for its sockets
    one_formats: frozenset       # formats naming one item
    many_formats: frozenset      # formats naming a list
    keys: frozenset              # fallback: bare keys naming one item ...
    key_suffixes: tuple          # ... or ending like this
    list_keys: frozenset         # fallback: bare keys naming a list ...
    list_suffixes: tuple         # ... or ending like this
    socket_type: str             # ComfyUI type(s) a socket of this kind takes
    mime: str                    # data URIs of this kind start with "data:<mime>/"
    inline_max: int              # longest data URI (the whole string) the service takes
    rules: frozenset             # validation facts that apply (see inputs/rules.py)
    batch_hint: str              # how a batch on a list socket is read, for tooltips ("": kept whole)
    what: str                    # "an image", for sentences
    connect_hint: str            # what to connect, for sentences

    def byte_budget(self, limits, mime: str) -> tuple[int, str]:
        """(largest file that may be sent as a ``mime`` data URI, how to say that limit): the
        lower of this kind's inline limit (counted on the base64 string) and the model's
        ``file_size_mb<`` rule."""
        inline = (self.inline_max - len(f"data:{mime};base64,")) // 4 * 3
        model = limits.max_bytes
        if model is not None and model - 1 <= inline:
            return model - 1, f"the model's {model / 1e6:g} MB limit"
        return inline, (f"the {inline / 1e6:.1f} MB limit for {self.what} sent inline "
                        f"({self.inline_max // MiB} MiB as base64)")


MEDIA_KINDS: tuple[MediaKind, ...] = (
    MediaKind(                   # first: "mask_image" is a mask, not an image
        name="mask",
        one_formats=frozenset({"mask_uri", "mask-uri", "mask_url", "mask"}),
        many_formats=frozenset({"mask_uris", "mask-uris", "mask_urls"}),
        keys=frozenset({"mask_url", "mask_image", "mask", "mask_uri", "mask_image_url"}),
        key_suffixes=("_mask_url", "_mask", "_mask_uri", "_mask_image_url"),
        list_keys=frozenset({"mask_urls", "masks"}),
        list_suffixes=("_mask_urls", "_masks"),
        socket_type="MASK,IMAGE", mime="image", inline_max=6 * MiB,
        rules=frozenset({"width", "height", "size", "aspect"}),
        batch_hint="A batch gives one item per mask.",
        what="a mask", connect_hint="connect a MASK (white is the area it applies to) or an IMAGE"),
    MediaKind(
        name="image",
        one_formats=frozenset({"image_uri", "image-uri", "image_url", "image"}),
        many_formats=frozenset({"image_uris", "image-uris", "image_urls"}),
        keys=frozenset({"image_url", "img_url", "image", "input_image", "image_uri", "start_image_url",
                        "first_frame_url", "last_frame_url"}),
        key_suffixes=("_image_url", "_img_url", "_image", "_image_uri", "_frame_url"),
        list_keys=frozenset({"image_urls", "images", "img_urls", "reference_images", "image_list"}),
        list_suffixes=("_image_urls", "_images", "_img_urls"),
        socket_type="IMAGE", mime="image", inline_max=6 * MiB,
        rules=frozenset({"width", "height", "size", "aspect"}),
        batch_hint="A batch gives one item per image.",
        what="an image", connect_hint="connect an IMAGE"),
    MediaKind(
        name="video",
        one_formats=frozenset({"video_uri", "video-uri", "video_url", "video"}),
        many_formats=frozenset({"video_uris", "video-uris", "video_urls"}),
        keys=frozenset({"video_url", "video", "input_video", "video_uri"}),
        key_suffixes=("_video_url", "_video", "_video_uri"),
        list_keys=frozenset({"video_urls", "videos", "reference_videos", "video_list"}),
        list_suffixes=("_video_urls", "_videos"),
        socket_type="VIDEO,IMAGE", mime="video", inline_max=32 * MiB,
        rules=frozenset({"width", "height", "size", "aspect", "duration"}),
        batch_hint="",
        what="a video", connect_hint="connect a VIDEO or an IMAGE batch (its frames)"),
    MediaKind(
        name="audio",
        one_formats=frozenset({"audio_uri", "audio-uri", "audio_url", "audio"}),
        many_formats=frozenset({"audio_uris", "audio-uris", "audio_urls"}),
        keys=frozenset({"audio_url", "audio", "input_audio", "audio_uri", "audio_file", "voice_url",
                        "music_url", "speech_url"}),
        key_suffixes=("_audio_url", "_audio", "_audio_uri", "_voice_url", "_music_url", "_speech_url"),
        list_keys=frozenset({"audio_urls", "audios", "reference_audios", "audio_list"}),
        list_suffixes=("_audio_urls", "_audios"),
        socket_type="AUDIO", mime="audio", inline_max=16 * MiB,
        rules=frozenset({"size", "duration"}),
        batch_hint="A batch gives one item per clip.",
        what="an audio clip", connect_hint="connect an AUDIO"),
)
MEDIA_KIND = {k.name: k for k in MEDIA_KINDS}


GENERIC_FORMATS = {None, "uri", "url", "iri", "uri-reference", "data-url", "binary"}


COUNT_PREFIXES = ("num_", "max_", "min_", "n_", "number_of_")


def recognise(key: str, prop: dict, title: str = "") -> tuple[MediaKind, bool] | None:
    """(kind, is_list) for a media field, else None.  The format decides; the key (then
    the title) decides only when the property names no media format (a plain "uri" is
    not a media format: it says nothing about the kind)."""
    fmt = prop.get("format")
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    item_fmt = items.get("format")
    is_array = prop.get("type") == "array"
    for kind in MEDIA_KINDS:
        if fmt in kind.many_formats or item_fmt in kind.many_formats | kind.one_formats:
            return kind, True
        if fmt in kind.one_formats:
            return kind, is_array
    for kind in MEDIA_KINDS:               # JSON Schema's own word: "contentMediaType": "image/png"
        if media_type(prop) == kind.name or media_type(items) == kind.name:
            return kind, is_array
    if fmt not in GENERIC_FORMATS or item_fmt not in GENERIC_FORMATS or "enum" in prop:
        return None                        # a format of another kind (date, mask, …), a choice
    if is_array and items.get("type") not in (None, "string"):
        return None                        # a list of objects or numbers: not links
    if not is_array and prop.get("type") not in (None, "string"):
        return None
    for name in (strip_node_prefix(key).lower(), re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")):
        if name.startswith(COUNT_PREFIXES):
            continue                       # num_images, max_videos: a count, not media
        for kind in MEDIA_KINDS:
            if is_array and (name in kind.list_keys | kind.keys or name.endswith(kind.list_suffixes)):
                return kind, True
            if not is_array and (name in kind.keys or name.endswith(kind.key_suffixes)):
                return kind, False
    return None


def strip_node_prefix(key: str) -> str:
    """'600_prompt' → 'prompt': ComfyUI-workflow style keys carry a node number."""
    return re.sub(r"^\d+_", "", key)


def media_type(prop: dict) -> str:
    """"image" for ``"contentMediaType": "image/png"`` (or "image/*"), else ""."""
    value = prop.get("contentMediaType")
    return value.split("/", 1)[0].strip().lower() if isinstance(value, str) else ""


def kind_of_data_uri(link: str) -> str | None:
    """'video' for 'data:video/mp4;base64,…'; None for anything else."""
    m = re.match(r"data:([a-z]+)/", link[:40].lower())
    return m.group(1) if m else None




# -- output kinds -------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputKind:
    name: str                    # the model file's "output", and the group a result's files fall in
    result_keys: tuple           # keys of a result's ``output`` naming one file, then a list of them
    extensions: tuple            # file extensions of its links (the kind of a link no key names)
    words: str                   # regex: how a catalog entry says it makes this ("to-video", …)
    outputs: tuple               # the node's outputs when a model makes this kind (append only:
                                 # saved workflows link outputs by position); see results/outputs.py
    preview: str = ""            # how a node previews its files: "images", "animated", "audio", ""
    what: str = ""               # for sentences: "a video"
    title: str = ""              # its part of a node's category: RunComfy/<title>/<vendor>


AUDIO_WORDS = r"audio|music|speech|voice|sound|song|tts"

OUTPUT_KINDS: tuple[OutputKind, ...] = (
    OutputKind("video", ("video", "videos"), (".mp4", ".webm", ".mov", ".mkv", ".m4v", ".avi"),
               "video", ("frames", "fps", "frame_count", "video", "video_url", "request_id", "audio"),
               preview="animated", what="a video", title="Video"),
    OutputKind("image", ("image", "images"),
               (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"),
               "image", ("images", "image_urls", "request_id"), preview="images", what="an image",
               title="Image"),
    OutputKind("audio", ("audio", "audios"), (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus"),
               AUDIO_WORDS, ("audio", "audio_url", "request_id"), preview="audio", what="a sound",
               title="Audio"),
    OutputKind("3d", ("model_mesh", "model_meshes"), (".glb", ".gltf", ".obj", ".stl", ".fbx", ".usdz"),
               r"3d|mesh|glb", ("model_file", "model_url", "request_id"), what="a 3D model",
               title="3D"),
)
OUTPUT_KIND = {k.name: k for k in OUTPUT_KINDS}
MAIN_OUTPUTS = tuple(k.name for k in OUTPUT_KINDS)


def output_kind_of_link(key: str, url: str) -> str | None:
    """The output kind of a result link: by its file extension, else by a key naming exactly
    one kind ("video_url"); None when neither tells."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    by_ext = [k.name for k in OUTPUT_KINDS if path.endswith(k.extensions)]
    if by_ext:
        return by_ext[0]
    by_key = [k.name for k in OUTPUT_KINDS if k.name in key.lower()]
    return by_key[0] if len(by_key) == 1 else None
