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

import logging
import time

from . import host
from ..inputs.fingerprint import fingerprint, legacy_fingerprint
from ..inputs.prepare import media_identity, prepare_media
from ..inputs.request import assemble, encode_body, scalar_values
from ..remote.client import safe_id
from ..remote.journal import Entry
from ..errors import add_sentence
from ..remote.money import billed_sentence
from ..remote.service import JobService, Prepared, Ticket
from ..results import outputs
from ..results.audio import AudioDecodeError
from ..results.decode import DecodeError
from ..spec.estimate import estimate
from ..spec.options import identity, split
from ..spec.schema import ModelSpec
from .status import Reporter

log = logging.getLogger("runcomfy")


async def run_node(spec: ModelSpec, values: dict):
    """The node's FUNCTION.  ComfyUI passes every input as a list (INPUT_IS_LIST): one job
    per item, every item checked before the first is submitted (batch.py)."""
    from .batch import run_list
    return await run_list(spec, values)


def execute(spec: ModelSpec, values: dict, reporter: Reporter, *, client=None,
            service: JobService | None = None, should_cancel=host.interrupted) -> dict:
    """Check the inputs (nothing is paid before this passes), then obtain and load the job."""
    service = service or JobService.shared()
    ticket, options = plan(spec, values, service)
    return finish(spec, ticket, options, reporter, client=client, service=service,
                  should_cancel=should_cancel)


def plan(spec: ModelSpec, values: dict, service: JobService) -> tuple[Ticket, dict]:
    """Every widget checked and the inputs' fingerprint and price computed: the job to
    obtain (its media are encoded only when no journaled job has these inputs)."""
    values, options = split(values)
    scalars = scalar_values(spec, values)
    media = media_identity(spec, values)

    own = identity(spec, options)

    def prepare() -> Prepared:
        prepared = prepare_media(spec, values, fit=bool(options["fit_image_to_limits"]),
                                 fps=float(options["video_fps"] or 0))
        body = assemble(spec, scalars, prepared.urls)
        earlier = (legacy_fingerprint(spec.model_id, body),
                   fingerprint(spec.model_id, scalars, media_identity(spec, values, legacy=True), own, 2))
        return Prepared(encode_body(body, spec.display_name), earlier, prepared.notes)

    ticket = Ticket(spec.model_id, spec.display_name, fingerprint(spec.model_id, scalars, media, own),
                    prepare, estimate(spec, scalars, service.prices().get(spec)))
    return ticket, options


def finish(spec: ModelSpec, ticket: Ticket, options: dict, reporter: Reporter, *, client=None,
           service: JobService | None = None, should_cancel=host.interrupted, ledger=None) -> dict:
    """Obtain the job (reused, resumed or submitted), download it, turn it into outputs."""
    service = service or JobService.shared()
    started = time.monotonic()
    got = service.run(ticket, reporter, client=client, should_cancel=should_cancel)
    try:
        outputs = build_outputs(spec, got.entry, got.files, options, reporter, ledger)
    except (DecodeError, AudioDecodeError) as e:
        # Keep the damaged file for the user to inspect, but forget it: the next run
        # downloads the result again (the job is paid for; its URL is in the journal).
        service.forget_files(got.entry.request_id)
        raise add_sentence(e, billed_sentence(got.entry) + " Running the node again downloads "
                           "it again without paying.") from None
    cost = f" · ${got.entry.cost:.2f}" if got.entry.cost is not None else ""
    if got.entry.cost is None and got.entry.estimate is not None:
        cost = f" · ≈ ${got.entry.estimate:.2f} (RunComfy did not report the cost)"
    if got.reused:
        cost = " · reused, no new charge"
    reporter.done(f"Done in {time.monotonic() - started:.0f} s{cost} · {safe_id(got.entry.request_id)}")
    return outputs


def build_outputs(spec: ModelSpec, entry: Entry, files, options: dict, reporter: Reporter,
                  ledger=None) -> dict:
    """The node's outputs for the job's files (results/outputs.py: one table, one dispatch)."""
    return outputs.build(spec.output, entry, files, options, reporter, ledger)
