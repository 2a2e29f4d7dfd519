"""The fingerprint of a tensor depends on its values as sent and its shape only: not on its
device, float type or memory layout (the same picture must never be paid for twice)."""
import time

import pytest
import torch

from nodes.app.pipeline import run_model
from nodes.comfy.factory import default_values
from nodes.app.status import StatusReporter as Reporter
from nodes.inputs.fingerprint import audio_digest, pixels_digest, samples_digest, video_digest
from nodes.comfy.registry import build_mappings

NODE = "RunComfy_Wan26_ImageToImage"


class StandInCuda(torch.Tensor):
    """A tensor that says it lives on a GPU (no GPU here): the digest must not care."""

    @property
    def device(self):
        return torch.device("cuda", 0)


def picture(h=48, w=64) -> torch.Tensor:
    """An 8-bit picture as ComfyUI's Load Image gives it: levels k / 255 in float32."""
    levels = (torch.arange(h * w * 3) * 7919 % 256).reshape(1, h, w, 3)
    return levels.float().div(255)


def other_layout(t: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous view."""
    view = t.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)
    assert not view.is_contiguous() and torch.equal(view, t)
    return view


def forms(t: torch.Tensor) -> dict:
    half = t.half()
    return {"float16": half, "bfloat16": t.bfloat16(), "float64": t.double(),
            "non-contiguous": other_layout(t), "non-contiguous float16": other_layout(half),
            "gpu float16": half.as_subclass(StandInCuda), "gpu float32": t.as_subclass(StandInCuda)}


@pytest.mark.parametrize("form", list(forms(picture())))
def test_the_same_picture_has_one_digest_on_any_device_type_or_layout(form):
    t = picture()
    other = forms(t)[form]
    assert pixels_digest(other) == pixels_digest(t)
    assert video_digest(other) == video_digest(t)                     # an IMAGE batch sent as a video


def test_a_one_level_change_or_another_shape_is_another_digest():
    t = picture()
    changed = t.clone()
    changed[0, 5, 7, 1] += 1 / 255
    assert pixels_digest(changed) != pixels_digest(t)
    assert pixels_digest(t.reshape(1, 64, 48, 3)) != pixels_digest(t)


def test_the_digest_never_changes_the_tensor_it_reads():
    t = picture()
    before = t.clone()
    pixels_digest(t)
    samples_digest(t)
    assert torch.equal(t, before)


def test_a_batch_larger_than_one_chunk_hashes_like_one_read(monkeypatch):
    import nodes.inputs.fingerprint as fp
    t = picture().repeat(6, 1, 1, 1)
    whole = pixels_digest(t)
    monkeypatch.setattr(fp, "CHUNK_VALUES", 48 * 64 * 3 * 2)          # two frames at a time
    assert pixels_digest(t) == whole and pixels_digest(other_layout(t)) == whole


def test_the_same_sound_has_one_digest_on_any_device_or_layout():
    samples = (torch.arange(2 * 4000) % 2001 - 1000).float().div(32767).reshape(1, 2, 4000)
    base = audio_digest({"waveform": samples, "sample_rate": 16000})
    strided = samples.transpose(1, 2).contiguous().transpose(1, 2)
    for other in (samples.double(), strided, samples.as_subclass(StandInCuda)):
        assert audio_digest({"waveform": other, "sample_rate": 16000}) == base
    assert audio_digest({"waveform": samples, "sample_rate": 22050}) != base


# -- end to end: one submit for the same picture in float16 and float32 --------------------------

def run(rt, image) -> dict:
    cls = build_mappings(rt)[0][NODE]
    values = {**default_values(cls), "prompt": "a lake at dawn", "image_1": image}
    return run_model(rt, cls.SPEC, values, Reporter())


def test_the_same_picture_in_half_precision_on_a_gpu_reuses_the_job(rt, env):
    t = picture()
    run(rt, t)
    run(rt, t.half().as_subclass(StandInCuda))
    run(rt, other_layout(t.bfloat16()))
    assert len(env.calls("submit")) == 1


# -- jobs journaled by version 2 of the fingerprint are still found ------------------------------

# Computed by pack 02d65ff (fingerprint version 2) for run(arange picture below) with the node's
# default widgets and prompt "a lake at dawn".
V2_FINGERPRINT = "8e9befcff6b64e8c1f84e58c416cf00aec2142c5c1e89c7a3ea00654695fafc2"


def test_a_job_journaled_under_the_version_2_fingerprint_is_reused_not_paid_again(rt, env, client):
    image = (torch.arange(64 * 64 * 3) % 256).float().div(255).reshape(1, 64, 64, 3)
    journal = rt.journal
    entry, mine = journal.claim([V2_FINGERPRINT], "wan-ai/wan-2-6/image-to-image", "old", 60)
    assert mine
    rid = client.submit("wan-ai/wan-2-6/image-to-image",
                        {"prompt": "a lake at dawn", "image_urls": ["https://example.com/a.png"]}).request_id
    journal.record_request(entry.id, rid)
    out = run(rt, image)
    assert out["result"][-1] == rid and len(env.calls("submit")) == 1   # resumed, not submitted
    assert [e.request_id for e in rt.journal.recent()] == [rid]
