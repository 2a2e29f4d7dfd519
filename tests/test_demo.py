"""The README's demo: the full path writes an MP4, every frame and a contact sheet in order."""
import av
import numpy as np
from PIL import Image

from simulator.media import frame_index
from tools import demo


def test_demo_writes_video_frames_and_an_ordered_contact_sheet(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--sim-seconds", "0.2,0.5"]) == 0
    printed = capsys.readouterr().out
    assert f"Files are in {out}" in printed and "Decoding" in printed and "Queued" in printed
    assert "Submitting to RunComfy… ≈ $0.25" in printed                 # the estimate, before paying
    with av.open(str(out / "result.mp4")) as clip:
        stream = clip.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 854, 480)
    frames = sorted((out / "frames").glob("frame_*.png"))
    assert len(frames) == 81
    assert frame_index(np.asarray(Image.open(frames[40]))) == 40
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    tile_w, tile_h = 200, round(480 * 200 / 854)
    indices = [frame_index(sheet[r * tile_h:(r + 1) * tile_h, c * tile_w:(c + 1) * tile_w])
               for r in range(9) for c in range(9)]
    assert indices == list(range(81))
    # the clip animates the input picture (a sunset: warm sky on top, blue sea below)
    middle = np.asarray(Image.open(frames[40])).astype(int)
    sky, sea = middle[100:200].mean(axis=(0, 1)), middle[-60:].mean(axis=(0, 1))
    assert sky[0] > sky[2] and sea[2] > sea[0]
