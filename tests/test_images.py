"""nodes/inputs/images.py: tensors and links → what the request carries, checked before paying."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.inputs import images
from nodes.core.errors import InputError
from nodes.inputs.request import MAX_REQUEST_BYTES, encode_body as check_request_size
from nodes.inputs.prepare import prepare_media as prepare_images
from nodes.spec.schema import parse_model

MODELS = Path(__file__).resolve().parents[1] / "nodes" / "models"


def spec_of(name: str):
    path = MODELS / f"{name}.json"
    return parse_model(json.loads(path.read_text(encoding="utf-8")), str(path))


@pytest.fixture(scope="module")
def wan22():
    return spec_of("wan-2-2-image-to-video")


@pytest.fixture(scope="module")
def wan26():
    return spec_of("wan-2-6-image-to-image")


def tensor(w: int, h: int, c: int = 3, seed: int = 0, noise: bool = False) -> torch.Tensor:
    """A [1,H,W,C] float image: smooth gradients (compresses like a picture) or pure noise."""
    rng = np.random.default_rng(seed)
    if noise:
        arr = rng.random((h, w, c), dtype=np.float32)
    else:
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        chans = [x / w, y / h, (x + y) / (w + h), np.full_like(x, 0.5)][:c]
        arr = np.stack(chans, axis=-1) * 0.9 + rng.random((h, w, c), dtype=np.float32) * 0.02
    return torch.from_numpy(arr).unsqueeze(0)


def decode(uri: str) -> Image.Image:
    head, b64 = uri.split(",", 1)
    assert head in ("data:image/png;base64", "data:image/jpeg;base64")
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def as_uint8(t: torch.Tensor) -> np.ndarray:
    return (t[0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def test_in_range_image_is_png_pixel_exact(wan22):
    t = tensor(640, 480)
    out = prepare_images(wan22, {"image": t})
    uri = out.urls["img_url"]
    assert uri.startswith("data:image/png;base64,")
    img = decode(uri)
    assert img.format == "PNG" and img.mode == "RGB"
    assert np.array_equal(np.asarray(img), as_uint8(t))
    assert out.notes == []
    assert out.total_bytes == len(uri)


def test_tiny_image_is_upscaled_keeping_aspect(wan22):
    out = prepare_images(wan22, {"image": tensor(200, 150)}, fit=True)
    img = decode(out.urls["img_url"])
    w, h = img.size
    assert min(w, h) >= 360 and max(w, h) <= 2000
    assert (w, h) == (480, 360)
    assert any("upscaled 200x150 → 480x360" in n for n in out.notes), out.notes


def test_tiny_image_without_fit_names_the_rule(wan22):
    with pytest.raises(InputError) as e:
        prepare_images(wan22, {"image": tensor(200, 150)}, fit=False)
    msg = str(e.value)
    assert "Wan 2.2 Image to Video" in msg and "'image'" in msg and "200x150" in msg
    assert "must be at least 360 pixels" in msg
    assert "fit_image_to_limits" in msg


def test_oversized_image_is_downscaled(wan22):
    out = prepare_images(wan22, {"image": tensor(2400, 1350)})
    w, h = decode(out.urls["img_url"]).size
    assert w <= 2000 and h <= 2000 and min(w, h) >= 360
    assert max(w, h) == 2000
    assert abs(h - w * 1350 / 2400) <= 1
    assert any("downscaled 2400x1350 → 2000x1125" in n for n in out.notes), out.notes


def test_oversized_image_without_fit(wan22):
    with pytest.raises(InputError, match=r"2400x1350 px: The uploaded image width and height "
                                         r"must not exceed 2000 pixels\. Turn on"):
        prepare_images(wan22, {"image": tensor(2400, 1350)}, fit=False)


def test_limit_is_inclusive(wan22):
    out = prepare_images(wan22, {"image": tensor(2000, 360)}, fit=False)
    assert decode(out.urls["img_url"]).size == (2000, 360)


def test_extreme_aspect_ratio_cannot_be_fitted(wan22):
    with pytest.raises(InputError, match="aspect ratio"):
        prepare_images(wan22, {"image": tensor(3000, 300)})


def test_rgba_flattened_for_no_alpha_model(wan22):
    t = tensor(400, 400, c=4)
    t[0, :, :, 3] = 0.0                      # fully transparent → pure white after flattening
    t[0, :100, :, 3] = 1.0                   # top strip opaque → keeps its colour
    out = prepare_images(wan22, {"image": t})
    img = decode(out.urls["img_url"])
    assert img.mode == "RGB"
    arr = np.asarray(img)
    assert (arr[200:, :, :] == 255).all()
    assert np.array_equal(arr[:100], as_uint8(t)[:100, :, :3])
    assert any("flattened onto white" in n for n in out.notes), out.notes


def test_rgba_kept_where_alpha_allowed(wan26):
    t = tensor(400, 400, c=4)
    t[0, :50, :, 3] = 0.25
    out = prepare_images(wan26, {"image_1": t})
    img = decode(out.urls["image_urls"][0])
    assert img.mode == "RGBA"
    assert np.array_equal(np.asarray(img), as_uint8(t))


def test_batch_on_single_slot_is_refused(wan22):
    batch = torch.cat([tensor(400, 400, seed=i) for i in range(3)])
    with pytest.raises(InputError) as e:
        prepare_images(wan22, {"image": batch})
    assert "batch of 3 images" in str(e.value) and "ImageFromBatch" in str(e.value)


def test_image_list_order_follows_slots(wan26):
    s1, s3 = tensor(400, 400, seed=1), tensor(500, 400, seed=3)
    url2 = "https://example.com/two.png"
    values = {"image_1": s1, "image_3": s3, "image_urls": "\n" + url2 + "\n"}
    urls = prepare_images(wan26, values).urls["image_urls"]
    assert len(urls) == 3
    assert np.array_equal(np.asarray(decode(urls[0])), as_uint8(s1))
    assert urls[1] == url2
    assert np.array_equal(np.asarray(decode(urls[2])), as_uint8(s3))


def test_image_list_skips_empty_slots_and_notes_shadowed_link(wan26):
    values = {"image_1": tensor(400, 400), "image_urls": "https://a.example/1.png\n\n"
                                                          "https://a.example/3.png"}
    out = prepare_images(wan26, values)
    urls = out.urls["image_urls"]
    assert len(urls) == 2 and urls[0].startswith("data:image/png") and urls[1].endswith("/3.png")
    assert any("line 1 of 'image_urls' is ignored" in n for n in out.notes), out.notes


def test_image_list_too_many_lines(wan26):
    """Lines after the last socket are further items, up to the model's maxItems (3 here)."""
    from nodes.inputs.prepare import media_identity
    with pytest.raises(InputError, match="takes at most 3 images; got 4.*'image_urls'"):
        media_identity(wan26, {"image_urls": "\n".join(f"https://x/{i}" for i in range(4))})


def test_connected_image_wins_over_url(wan22):
    out = prepare_images(wan22, {"image": tensor(400, 400), "image_url": "https://x/y.png"})
    assert out.urls["img_url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("link", ["http://example.com/a.png", "ftp://example.com/a.png",
                                  "file:///tmp/a.png", "a.png"])
def test_non_https_links_refused(wan22, link):
    with pytest.raises(InputError) as e:
        prepare_images(wan22, {"image_url": link})
    assert "'image_url'" in str(e.value) and "only https:// links or connected images" in str(e.value)


def test_https_and_data_links_kept_verbatim(wan22, wan26):
    link = "https://Example.com/A%20b.png?sig=XyZ&x=1"
    out = prepare_images(wan22, {"image_url": link, "image": None})
    assert out.urls == {"img_url": link} and out.total_bytes == 0
    data = "data:image/png;base64,iVBORw0KGgo="
    out = prepare_images(wan26, {"image_urls": data})
    assert out.urls == {"image_urls": [data]} and out.total_bytes == len(data)


def test_nothing_given_leaves_key_out(wan22, wan26):
    assert prepare_images(wan22, {"image_url": ""}).urls == {}
    assert prepare_images(wan26, {}).urls == {}


def test_noisy_image_falls_back_to_jpeg(wan22):
    t = tensor(1400, 1400, noise=True)       # PNG ≈ 5.9 MB: over the ~4.7 MB inline budget
    out = prepare_images(wan22, {"image": t})
    uri = out.urls["img_url"]
    assert uri.startswith("data:image/jpeg;base64,")
    assert len(uri) <= images.DATA_URI_MAX
    assert decode(uri).size == (1400, 1400)
    assert any("sent as JPEG (quality" in n and "PNG would be" in n for n in out.notes), out.notes


def test_model_file_size_rule_binds_when_lower():
    doc = {"model_id": "t/small", "input_schema": {"required": ["image_url"], "properties": {
        "image_url": {"type": "string", "description": "", "validations": [
            {"validation_rule": "file_size_mb<", "validation_value": 1,
             "validation_error": "File size must be less than 1 MB."}]}}}}
    spec = parse_model(doc)
    out = prepare_images(spec, {"image": tensor(700, 700, noise=True)})   # PNG ≈ 1.5 MB
    raw = base64.b64decode(out.urls["image_url"].split(",", 1)[1])
    assert raw[:3] == b"\xff\xd8\xff" and len(raw) < 1_000_000
    assert any("the model's 1 MB limit" in n for n in out.notes), out.notes


def test_check_request_size():
    body = {"prompt": "x", "img_url": "data:image/png;base64," + "A" * 1000}
    check_request_size(body)
    check_request_size(body, limit=len(json.dumps(body)))
    with pytest.raises(InputError, match="MB"):
        check_request_size(body, limit=500)
    with pytest.raises(InputError, match="https:// links"):
        check_request_size({"img_url": "A" * (MAX_REQUEST_BYTES + 1)})


def test_data_uri_arrives_intact_at_the_service(sim, client, wan22):
    """End to end: prepared image → build_request → submit → the body the service received."""
    from nodes.inputs.widgets import input_types
    from nodes.inputs.request import build_request

    widgets = {name: opts["default"] for name, (_, opts) in input_types(wan22)["required"].items()
               if isinstance(opts, dict) and "default" in opts}
    widgets["prompt"] = "a slow pan over the hills"
    t = tensor(2400, 1350, seed=7)
    prepared = prepare_images(wan22, {"image": t}, fit=True)
    body = build_request(wan22, widgets, images=prepared.urls)
    check_request_size(body)
    client.submit(wan22.model_id, body)

    [arrived] = sim.submitted_bodies(wan22.model_id)
    assert arrived["img_url"] == prepared.urls["img_url"]
    img = decode(arrived["img_url"])
    assert img.size == (2000, 1125)
    expected = Image.fromarray(as_uint8(t)).resize((2000, 1125), Image.LANCZOS)
    assert np.array_equal(np.asarray(img), np.asarray(expected))
