"""An AUDIO too long for the byte limit is refused from its length, before anything is
encoded: the sizes of the WAV and of the MP3 the node would make are computed first
(pure functions, checked here against the real encoders), and a clip that cannot fit even
as MP3 never reaches them.  A clip that fits as MP3 is still sent as before."""
import base64
import copy
import io

import av
import numpy as np
import pytest
import torch

from nodes.app.catalog import add_model
from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import registry
from nodes.comfy.factory import default_values
from nodes.core.errors import InputError
from nodes.inputs.audio import (AUDIO, mp3_bit_rate, mp3_bytes, mp3_floor, refusal_by_length,
                                wav_bytes, wav_size)
from nodes.inputs.rules import read_limits

MODEL = "acme/reference-to-video"       # its audio list has no duration rule
INLINE = AUDIO.byte_budget(read_limits([], AUDIO.rules), "audio/mpeg")


@pytest.fixture
def quick(sim):
    sim.queue_s = sim.run_s = 0.0
    return sim


def run(rt, **values):
    add_model(MODEL, client=rt.client, models_dir=rt.models_dir())
    cls = registry.build_mappings(rt)[0]["RunComfy_acme_reference_to_video"]
    reporter = Reporter()
    run_model(rt, cls.SPEC, {**default_values(cls), "prompt": "x", **values}, reporter)
    return reporter


# -- the sizes, before encoding ----------------------------------------------------------------

@pytest.mark.parametrize("channels,n", [(1, 1000), (2, 12345), (6, 7)])
def test_the_wav_size_is_the_size_of_the_wav_the_node_makes(channels, n):
    assert wav_size(n, channels) == len(wav_bytes(np.zeros((channels, n), np.float32), 8000))


@pytest.mark.parametrize("rate,bit_rate", [(8000, 64_000), (22050, 160_000), (44100, 192_000),
                                           (96000, 192_000)])
def test_the_mp3_floor_is_never_above_the_mp3_the_node_makes(rate, bit_rate):
    """LAME caps 192 kbit/s at 160 for 16–24 kHz and at 64 for 8–12 kHz; 96 kHz is resampled
    to 44.1 kHz.  The floor is below the real size (never refuses a clip that fits) and near
    it (4 s: the fixed header is a tenth of the file at 64 kbit/s)."""
    assert mp3_bit_rate(rate) == bit_rate
    noise = np.random.default_rng(rate).uniform(-0.5, 0.5, (2, 4 * rate)).astype(np.float32)
    real = len(mp3_bytes(noise, rate))
    assert 0.9 * real <= mp3_floor(noise.shape[1], rate) <= real


def test_a_ten_hour_clip_is_refused_from_its_length_alone():
    budget, why = INLINE
    sentence = refusal_by_length("Acme", "audio", 10 * 3600 * 44100, 44100, budget, why)
    assert sentence.startswith("Acme: input 'audio' is 10 h 00 min long")
    assert "even as MP3 at 192 kbit/s" in sentence and "over the 12.6 MB limit" in sentence
    assert "Shorten it (about 8 min 44 s fits) or give an https:// link" in sentence


def test_the_length_bound_follows_the_bit_rate_and_lets_a_fitting_clip_through():
    budget, why = INLINE
    assert refusal_by_length("Acme", "audio", 8 * 60 * 44100, 44100, budget, why) is None
    assert "9 min 00 s long" in refusal_by_length("Acme", "audio", 9 * 60 * 44100, 44100, budget, why)
    assert refusal_by_length("Acme", "audio", 25 * 60 * 8000, 8000, budget, why) is None  # 64 kbit/s
    assert "about 26 min" in refusal_by_length("Acme", "audio", 27 * 60 * 8000, 8000, budget, why)


# -- through the node ------------------------------------------------------------------------

def test_a_clip_too_long_for_the_inline_limit_is_refused_before_paying(quick, env, fast_rt):
    silence = {"waveform": torch.zeros(1, 1, 30 * 60 * 8000), "sample_rate": 8000}   # 30 min, 58 MB
    with pytest.raises(InputError, match=r"input 'reference_audio_1' is 30 min 00 s long; even as "
                       r"MP3 at 64 kbit/s.*at least 14\.3 MB, over the 12\.6 MB limit for an audio "
                       r"clip sent inline.*Shorten it \(about 26 min .. s fits\) or give an https://"):
        run(fast_rt, reference_audio_1=silence)
    assert quick.calls("submit") == []


def test_a_clip_just_under_the_model_size_rule_is_still_sent_as_mp3(quick, env, fast_rt):
    doc = copy.deepcopy(quick.catalog.models[MODEL])
    doc["input_schema"]["properties"]["audios"]["validations"] = [
        {"validation_rule": "file_size_mb<", "validation_value": 1,
         "validation_error": "Each audio must be smaller than 1 MB."}]
    quick.catalog.models[MODEL] = doc
    t = torch.arange(120 * 8000) / 8000                       # 2 min at 8 kHz: WAV 1.9 MB,
    tone = {"waveform": (0.4 * torch.sin(2 * torch.pi * 330 * t))[None, None], "sample_rate": 8000}
    reporter = run(fast_rt, reference_audio_1=tone)            # MP3 ≈ 0.98 MB, floor 0.95 MB
    (body,) = quick.submitted_bodies(MODEL)
    head, b64 = body["audios"][0].split(",", 1)
    raw = base64.b64decode(b64)
    assert head == "data:audio/mpeg;base64" and len(raw) < 1_000_000
    with av.open(io.BytesIO(raw)) as box:
        heard = sum(f.samples for f in box.decode(audio=0)) / box.streams.audio[0].codec_context.sample_rate
    assert heard == pytest.approx(120, abs=0.2)
    assert any("sent as MP3 (64 kbit/s)" in n and "1.9 MB" in n for n in reporter.notes)
