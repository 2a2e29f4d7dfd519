"""A job's files → the node's outputs: one table of outputs, filled from the files by kind.

Which outputs a node has comes from its model's output kind (``spec/kinds.py``:
``OutputKind.outputs``); ``OUTPUTS`` says, per output name, its ComfyUI type and how it is
filled.  A result that carries several kinds (a video and images, a video and an audio
file, a video with a sound track) fills every output that matches.  Saved workflows link
outputs by position: a kind's outputs are only ever appended to, never reordered.

Files are decoded on demand and once each (``Loaded``): an image node never decodes a
video, and a video's sound track is decoded only by a node that has an ``audio`` output.
The decoders load on first use, so the table itself costs nothing at ComfyUI's start.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

from ..spec.kinds import OUTPUT_KIND, OUTPUT_KINDS
from .files import preview


@dataclass(frozen=True)
class Output:
    name: str
    type: str                         # ComfyUI type
    fill: Callable[["Loaded"], object]
    tooltip: str = ""


@dataclass(frozen=True)
class Decoding:
    """How a job's files become values: the node's frame options, the memory and pixel
    limits, the host's VIDEO type and output folder, and the memory a list run shares."""
    options: dict                     # start_frame, every_nth_frame, frame_cap
    memory_budget: int                # bytes of decoded results (RUNCOMFY_MAX_RESULT_GB)
    image_pixels: int                 # pixels of one result image (RUNCOMFY_MAX_IMAGE_MP)
    video_from_file: Callable         # path → the host's VIDEO value
    output_dir: Path                  # ComfyUI's output folder (previews are relative to it)
    ledger: object = None             # the memory every item of a list run shares (app/board.py)


def _urls(r: "Loaded") -> str:
    return "\n".join(r.entry.urls)


OUTPUTS = {o.name: o for o in (
    Output("frames", "IMAGE", lambda r: r.frames, "The result video's frames (or its images)."),
    Output("fps", "FLOAT", lambda r: r.clip.fps if r.clip else 0.0, "Frames per second of 'frames'."),
    Output("frame_count", "INT", lambda r: r.frame_count, "Frames in 'frames'."),
    Output("video", "VIDEO", lambda r: r.video, "The result video (with its sound), for Save Video."),
    Output("video_url", "STRING", _urls, "Every result link, one per line."),
    Output("images", "IMAGE", lambda r: r.images if r.images is not None else r.frames,
           "The result images as one batch."),
    Output("image_urls", "STRING", _urls, "Every result link, one per line."),
    Output("audio", "AUDIO", lambda r: r.sound if r.sound is not None else r.silence,
           "The result's sound: the video's track, or the audio file; silence of the video's "
           "length when the result has no sound (so Save Audio never stops the workflow)."),
    Output("audio_url", "STRING", _urls, "Every result link, one per line."),
    Output("request_id", "STRING", lambda r: r.entry.request_id, "The RunComfy request id."),
    Output("model_file", "STRING", lambda r: r.path_of("3d"),
           "The saved 3D model file (GLB, glTF, OBJ …), for nodes that load a mesh by path."),
    Output("model_url", "STRING", _urls, "Every result link, one per line."),
)}


# A node that takes any result (Load Result, the generic "RunComfy Model" node) has the video
# node's outputs and then one per other kind's file that no video output carries (append only).
ANY_RESULT = OUTPUT_KIND["video"].outputs + ("model_file",)


def return_types(names: tuple) -> tuple[str, ...]:
    return tuple(OUTPUTS[n].type for n in names)


def output_tooltips(names: tuple) -> tuple[str, ...]:
    return tuple(OUTPUTS[n].tooltip for n in names)


def return_names(kind: str) -> tuple[str, ...]:
    """The outputs of a node whose model makes ``kind`` (its record says them)."""
    return OUTPUT_KIND[kind].outputs


class Loaded:
    """A job's downloaded files, grouped by kind and decoded on demand (each once)."""

    def __init__(self, entry, files, reporter, decoding: Decoding):
        self.entry, self.reporter, self.decoding = entry, reporter, decoding
        by_url = dict(zip(entry.urls, files))
        self.files = {k.name: [by_url[u] for u in entry.urls_of(k.name) if u in by_url]
                      for k in OUTPUT_KINDS}

    def path_of(self, kind: str) -> str | None:
        found = self.files[kind]
        return str(found[0]) if found else None

    @cached_property
    def clip(self):
        videos = self.files["video"]
        if not videos:
            return None
        if len(videos) > 1:
            self.reporter.note(f"{len(videos)} videos returned; frames come from the first, all are saved")
        from .decode import decode_video      # deferred: PyAV and torch load on the first result
        o, d = self.decoding.options, self.decoding
        return decode_video(videos[0], budget=d.memory_budget, start_frame=o["start_frame"],
                            every_nth=o["every_nth_frame"], frame_cap=o["frame_cap"],
                            progress=self.reporter.decoding, ledger=d.ledger)

    @cached_property
    def images(self):
        if not self.files["image"]:
            return None
        from .images import load_images       # deferred: PIL and torch load on the first result
        batch, notes = load_images(self.files["image"], self.decoding.image_pixels,
                                   self.decoding.memory_budget)
        for n in notes:
            self.reporter.note(n)
        return batch

    @property
    def frames(self):
        return self.clip.frames if self.clip is not None else self.images

    @property
    def frame_count(self) -> int:
        frames = self.frames
        return int(frames.shape[0]) if frames is not None else 0

    @cached_property
    def video(self):
        videos = self.files["video"]
        return self.decoding.video_from_file(videos[0]) if videos else None

    @cached_property
    def silence(self):
        """For a result with a video but no sound: silence of the video's full length."""
        clip = self.clip
        if clip is None or not clip.source_fps:
            return None
        self.reporter.note("No sound in this result: 'audio' is silence of its length")
        return silence(clip.source_frames / clip.source_fps)

    @cached_property
    def sound(self):
        from .audio import decode_audio, duration_of   # deferred: PyAV loads on the first result
        for path in self.files["video"][:1] + self.files["audio"][:1]:
            audio = decode_audio(path, self.decoding.memory_budget)
            if audio is not None:
                self.reporter.note(f"Sound: {duration_of(audio):.1f} s, "
                                   f"{audio['waveform'].shape[1]} channel(s), {audio['sample_rate']} Hz")
                return audio
        return None


SILENCE_RATE = 44100


def silence(seconds: float) -> dict:
    import torch                              # deferred: torch loads on the first result
    return {"waveform": torch.zeros(1, 1, max(1, int(round(seconds * SILENCE_RATE)))),
            "sample_rate": SILENCE_RATE}


def build(names: tuple, entry, files, reporter, decoding: Decoding) -> dict:
    """The node's outputs ``names`` for a result: ``{"ui": previews, "result": tuple in that
    order}``."""
    loaded = Loaded(entry, files, reporter, decoding)
    values = {name: OUTPUTS[name].fill(loaded) for name in names}
    missing = [n for n, v in values.items() if v is None]
    if missing:
        has = ", ".join(k for k, v in loaded.files.items() if v) or "nothing"
        reporter.note(f"This result has {has}: output(s) {', '.join(missing)} are empty")
    return {"ui": previews(loaded), "result": tuple(values[name] for name in names)}


def previews(loaded: Loaded) -> dict:
    """Each kind's files previewed as its record says (animated pictures, pictures, sound)."""
    pictures, animated, sounds = [], False, []
    for kind in OUTPUT_KINDS:
        files = loaded.files[kind.name]
        if kind.preview in ("animated", "images") and files and not pictures:
            pictures, animated = files, kind.preview == "animated"
        elif kind.preview == "audio":
            sounds += files
    return preview(loaded.decoding.output_dir, pictures, animated, sounds)
