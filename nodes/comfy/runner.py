"""What a model node does when it runs: inputs → request → job → result → outputs.

``run_node`` is the node's async FUNCTION; everything blocking runs in a worker thread
so ComfyUI's event loop stays free and two RunComfy nodes run their jobs at once.
``execute`` is the same path as a plain function (the demo calls it directly).

The order is what keeps money safe: every widget is checked and the inputs'
fingerprint computed first (cheap); the job service then reuses or resumes a job with
that fingerprint, and only for new inputs encodes the media (checking their limits),
journals the intent and submits.  See service.py.
"""
from __future__ import annotations

import asyncio
import logging
import time

from . import host
from ..results.decode import DecodeError, decode_video
from ..inputs.fingerprint import fingerprint, legacy_fingerprint, tensor_digest
from ..inputs.images import prepare_images, slots
from ..remote.journal import Entry
from ..spec.options import identity, split
from ..inputs.request import assemble, check_image_field, encode_body, scalar_values
from ..remote.client import safe_id
from ..results.files import load_images, preview
from ..spec.schema import IMAGE, ModelSpec
from ..remote.service import JobService, Prepared, Ticket
from .status import Reporter

log = logging.getLogger("runcomfy")


async def run_node(spec: ModelSpec, values: dict, node_id=None):
    reporter = Reporter(node_id)
    return await asyncio.to_thread(execute, spec, values, reporter)


def execute(spec: ModelSpec, values: dict, reporter: Reporter, *, client=None,
            service: JobService | None = None, should_cancel=host.interrupted) -> dict:
    """Check the inputs (nothing is paid before this passes), then obtain and load the job."""
    values, options = split(values)
    scalars = scalar_values(spec, values)
    media = media_identity(spec, values)

    def prepare() -> Prepared:
        prepared = prepare_images(spec, values, fit=bool(options["fit_image_to_limits"]))
        body = assemble(spec, scalars, prepared.urls)
        return Prepared(encode_body(body, spec.display_name),
                        legacy_fingerprint(spec.model_id, body), prepared.notes)

    ticket = Ticket(spec.model_id, spec.display_name,
                    fingerprint(spec.model_id, scalars, media, identity(spec, options)), prepare)
    return finish(spec, ticket, options, reporter, client=client, service=service,
                  should_cancel=should_cancel)


def media_identity(spec: ModelSpec, values: dict) -> dict:
    """Each media field's slots as content hashes or links; item counts checked here."""
    found = {}
    for f in spec.media_fields:
        items = [tensor_digest(t) if t is not None else link or None
                 for _, t, link in slots(spec, f, values, [])]
        given = [i for i in items if i]
        check_image_field(spec, f, (given[0] if given else None) if f.kind == IMAGE else given)
        found[f.key] = items
    return found


def finish(spec: ModelSpec, ticket: Ticket, options: dict, reporter: Reporter, *, client=None,
           service: JobService | None = None, should_cancel=host.interrupted) -> dict:
    """Obtain the job (reused, resumed or submitted), download it, turn it into outputs."""
    service = service or JobService.shared()
    started = time.monotonic()
    got = service.run(ticket, reporter, client=client, should_cancel=should_cancel)
    try:
        outputs = build_outputs(spec, got.entry, got.files, options, reporter)
    except DecodeError:
        # Keep the damaged file for the user to inspect, but forget it: the next run
        # downloads the result again (the job is paid for; its URL is in the journal).
        service.forget_files(got.entry.request_id)
        raise
    cost = f" · ${got.entry.cost:.2f}" if got.entry.cost is not None else ""
    if got.reused:
        cost = " · reused, no new charge"
    reporter.done(f"Done in {time.monotonic() - started:.0f} s{cost} · {safe_id(got.entry.request_id)}")
    return outputs


def build_outputs(spec: ModelSpec, entry: Entry, files, options: dict, reporter: Reporter) -> dict:
    """The node's outputs from whatever the job returned (videos and/or images)."""
    urls_text = "\n".join(entry.urls)
    by_url = dict(zip(entry.urls, files))
    video_files = [by_url[u] for u in entry.urls_of("video") if u in by_url]
    image_files = [by_url[u] for u in entry.urls_of("image") if u in by_url]
    if video_files:
        if len(video_files) > 1:
            reporter.note(f"{len(video_files)} videos returned; frames come from the first, all are saved")
        clip = decode_video(video_files[0], start_frame=options["start_frame"],
                            every_nth=options["every_nth_frame"], frame_cap=options["frame_cap"],
                            progress=reporter.decoding)
        frames, fps, count = clip.frames, clip.fps, clip.frame_count
    else:
        notes: list[str] = []
        frames = load_images(image_files, notes)
        for n in notes:
            reporter.note(n)
        fps, count = 0.0, frames.shape[0]
    ui = preview(video_files or image_files, animated=bool(video_files))
    if spec.output == "video":
        video = host.video_from_file(video_files[0]) if video_files else None
        result = (frames, float(fps), int(count), video, urls_text, entry.request_id)
    else:
        result = (frames, urls_text, entry.request_id)
    return {"ui": ui, "result": result}
