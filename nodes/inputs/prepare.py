"""Media fields → what the request carries, checked before paying.

For each media field: its items (collect), each connected value encoded by its kind's
encoder (encoders.py) within the field's rules (rules.py), each typed link checked.
``media_identity`` gives the same items as content hashes for the fingerprint, without
encoding anything, and checks the item counts (minItems / maxItems, required) first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import InputError
from ..spec.estimate import DEFAULT_FPS, FPS_KEYS, first, named
from ..spec.kinds import MEDIA_KIND, kind_of_data_uri
from .encoders import ENCODERS
from .rules import Limits, read_limits



@dataclass
class Item:
    where: str           # how a message names it: "input 'image_2'", "line 3 of 'image_urls'"
    socket: str          # the socket it came from ('' for a URL line)
    value: object = None  # a connected IMAGE / VIDEO / AUDIO value
    link: str = ""       # a typed link


@dataclass
class Context:
    """What an encoder needs besides the item."""
    who: str             # the node's name, for sentences
    field: object        # the schema Field
    limits: Limits
    fit: bool            # fit_image_to_limits
    fps: float           # frames per second for an IMAGE batch sent as a video


@dataclass
class PreparedMedia:
    urls: dict = field(default_factory=dict)     # wire key -> str or list[str]
    notes: list = field(default_factory=list)    # sentences for the node status
    total_bytes: int = 0                         # bytes of all data URIs


def prepare_media(spec, values: dict, *, fit: bool = True, fps: float = 0.0) -> PreparedMedia:
    """Every media field's value for the request, from connected values or links."""
    out = PreparedMedia()
    for f in spec.media_fields:
        kind = MEDIA_KIND[f.media]
        ctx = Context(spec.display_name, f, read_limits(f.validations, kind.rules), fit,
                      fps or model_fps(spec, values))
        items, notes = collect(spec, f, values)
        out.notes += notes
        sent = []
        for item in items:
            if item.value is None:
                sent.append(check_link(spec, f, item))
                continue
            encoded = ENCODERS[kind.name].encode(item, ctx)
            sent.append(encoded.uri)
            out.notes += encoded.notes
        if sent and ctx.limits.unchecked:
            rules = ", ".join(f"'{r}'" for r, _ in ctx.limits.unchecked)
            out.notes.append(f"{f.name}: the model's rule {rules} is not checked here; RunComfy "
                             "checks it when the job is submitted (a refused submit is not billed).")
        out.total_bytes += sum(len(u) for u in sent if u.startswith("data:"))
        if sent:
            out.urls[f.key] = sent[0] if f.kind == "media" else sent
    return out


def media_identity(spec, values: dict, legacy: bool = False) -> dict:
    """Each media field's items as content hashes or links (item counts checked here);
    ``legacy``: hashed as version 2 of the fingerprint did."""
    found = {}
    for f in spec.media_fields:
        items, _ = collect(spec, f, values)
        check_count(spec, f, len(items))
        found[f.key] = [ENCODERS[f.media].digest(i.value, legacy) if i.value is not None else i.link
                        for i in items]
    return found


def collect(spec, f, values: dict) -> tuple[list[Item], list[str]]:
    """(one field's items in order, notes): socket i (a connected value wins over URL line i;
    a batch on a list's socket gives one item per image or clip), then URL lines beyond the
    sockets."""
    text = str(values.get(f.url_name) or "")
    lines = [text.strip()] if f.kind == "media" else [s.strip() for s in text.splitlines()]
    sockets = f.socket_names()
    items: list[Item] = []
    notes: list[str] = []
    for i, socket in enumerate(sockets):
        link = lines[i] if i < len(lines) else ""
        value = values.get(socket)
        if value is None:
            if link:
                items.append(Item(line_name(f, i + 1), socket, link=link))
            continue
        if link:
            line = "" if f.kind == "media" else f"line {i + 1} of "
            notes.append(f"{socket}: the connected {f.media} is used; {line}'{f.url_name}' is ignored.")
        items += [Item(f"input '{socket}'" + (f" (item {k + 1} of its batch)" if k else ""), socket, part)
                  for k, part in enumerate(spread(f, value))]
    for j, line in enumerate(lines[len(sockets):], start=len(sockets) + 1):
        if line:
            items.append(Item(line_name(f, j), "", link=line))
    return items, notes


def spread(f, value) -> list:
    """A list field takes a batch as its kind splits it (an IMAGE batch of 3 is 3 images,
    an AUDIO batch of 2 is 2 clips, a video stays whole); a single field takes it whole."""
    return ENCODERS[f.media].split(value) if f.kind == "media_list" else [value]


def line_name(f, i: int) -> str:
    return f"'{f.url_name}'" if f.kind == "media" else f"line {i} of '{f.url_name}'"


def check_link(spec, f, item: Item) -> str:
    """A link is sent as given if the service can fetch it; it cannot be checked here."""
    link = item.link
    kind = MEDIA_KIND[f.media]
    if link.lower().startswith("https://") or kind_of_data_uri(link) == kind.mime:
        return link
    shown = link if len(link) <= 60 else link[:57] + "..."
    wrong = kind_of_data_uri(link)
    why = (f"a data: URI of {wrong}, but '{f.name}' takes {kind.what}" if wrong
           else f"only https:// links or connected {kind.name}s work (the service fetches the "
                "link itself)")
    socket = item.socket or (f.socket_names() or [f.name])[0]
    raise InputError(f"{spec.display_name}: {item.where} is {shown!r}: {why}. Use an https:// "
                     f"link, or {kind.connect_hint} to input '{socket}'.")


def check_count(spec, f, count: int) -> None:
    """Required fields and minItems / maxItems, before anything is encoded or paid."""
    kind = MEDIA_KIND[f.media]
    if f.kind == "media":
        if count == 0 and f.required:
            raise InputError(f"{spec.display_name}: input '{f.name}' is required: {kind.connect_hint} "
                             f"to it, or put an https:// link in '{f.url_name}'.")
        return
    lo, hi = f.min_items or 0, f.max_items
    if count < lo or (f.required and count == 0):
        first = f.socket_names()[0] if f.sockets else f.name
        raise InputError(f"{spec.display_name}: '{f.name}' needs at least {max(lo, 1)} "
                         f"{f.media}(s); got {count}. Connect '{first}' or put links, one per "
                         f"line, in '{f.url_name}'.")
    if hi is not None and count > hi:
        raise InputError(f"{spec.display_name}: '{f.name}' takes at most {hi} {f.media}s; got "
                         f"{count} (connected inputs and lines of '{f.url_name}' together; a "
                         f"batch counts one per item). Remove {count - hi}.")


def model_fps(spec, values: dict) -> float:
    """The fps an IMAGE batch is encoded at: the model's own fps widget (read the way the
    estimator reads it), else 16."""
    wire = {f.key: values[f.name] for f in spec.fields if f.name in values and not f.media}
    fps = first(named(spec, wire), FPS_KEYS)
    return fps if fps is not None and 1 <= fps <= 240 else DEFAULT_FPS
