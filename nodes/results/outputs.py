"""Output kinds as data: the outputs a node returns, and where each value comes from.

``RETURN_SPECS`` gives a node's outputs by its model's main output kind; ``OUTPUTS`` says,
per output name, its ComfyUI type and how it is filled from the job's files.  A result
that carries several kinds (a video and images, a video and an audio file, a video with
a sound track) fills every output that matches.  Saved workflows link outputs by
position: names are only ever appended to a spec, never reordered.

Files are decoded on demand and once each (``Loaded``): an image node never decodes a
video, and a video's sound track is decoded only by a node that has an ``audio`` output.
The decoders load on first use, so the table itself costs nothing at ComfyUI's start.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from ..comfy import host


@dataclass(frozen=True)
class Output:
    name: str
    type: str                         # ComfyUI type
    fill: Callable[["Loaded"], object]
    tooltip: str = ""


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
)}

RETURN_SPECS = {
    "video": ("frames", "fps", "frame_count", "video", "video_url", "request_id", "audio"),
    "image": ("images", "image_urls", "request_id"),
    "audio": ("audio", "audio_url", "request_id"),
}


def return_types(kind: str) -> tuple[str, ...]:
    return tuple(OUTPUTS[n].type for n in RETURN_SPECS[kind])


def return_names(kind: str) -> tuple[str, ...]:
    return RETURN_SPECS[kind]


def output_tooltips(kind: str) -> tuple[str, ...]:
    return tuple(OUTPUTS[n].tooltip for n in RETURN_SPECS[kind])


class Loaded:
    """A job's downloaded files, grouped by kind and decoded on demand (each once)."""

    def __init__(self, entry, files, options: dict, reporter, ledger=None):
        self.entry, self.options, self.reporter, self.ledger = entry, options, reporter, ledger
        by_url = dict(zip(entry.urls, files))
        self.files = {kind: [by_url[u] for u in entry.urls_of(kind) if u in by_url]
                      for kind in ("video", "image", "audio")}

    @cached_property
    def clip(self):
        videos = self.files["video"]
        if not videos:
            return None
        if len(videos) > 1:
            self.reporter.note(f"{len(videos)} videos returned; frames come from the first, all are saved")
        from .decode import decode_video
        o = self.options
        return decode_video(videos[0], start_frame=o["start_frame"], every_nth=o["every_nth_frame"],
                            frame_cap=o["frame_cap"], progress=self.reporter.decoding,
                            ledger=self.ledger)

    @cached_property
    def images(self):
        if not self.files["image"]:
            return None
        from .images import load_images
        notes: list[str] = []
        batch = load_images(self.files["image"], notes)
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
        return host.video_from_file(videos[0]) if videos else None

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
        from .audio import decode_audio, duration_of
        for path in self.files["video"][:1] + self.files["audio"][:1]:
            audio = decode_audio(path)
            if audio is not None:
                self.reporter.note(f"Sound: {duration_of(audio):.1f} s, "
                                   f"{audio['waveform'].shape[1]} channel(s), {audio['sample_rate']} Hz")
                return audio
        return None


SILENCE_RATE = 44100


def silence(seconds: float) -> dict:
    import torch
    return {"waveform": torch.zeros(1, 1, max(1, int(round(seconds * SILENCE_RATE)))),
            "sample_rate": SILENCE_RATE}


def build(kind: str, entry, files, options: dict, reporter, ledger=None) -> dict:
    """The node's outputs for a result: ``{"ui": previews, "result": tuple in RETURN_NAMES order}``.
    ``ledger``: the memory all items of one list run share (batch.py)."""
    from .files import preview
    loaded = Loaded(entry, files, options, reporter, ledger)
    values = {name: OUTPUTS[name].fill(loaded) for name in RETURN_SPECS[kind]}
    missing = [n for n, v in values.items() if v is None]
    if missing:
        has = ", ".join(k for k, v in loaded.files.items() if v) or "nothing"
        reporter.note(f"This result has {has}: output(s) {', '.join(missing)} are empty")
    ui = preview(loaded.files["video"] or loaded.files["image"], animated=bool(loaded.files["video"]),
                 audio=loaded.files["audio"])
    return {"ui": ui, "result": tuple(values[name] for name in RETURN_SPECS[kind])}
