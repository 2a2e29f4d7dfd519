"""Result images → one ComfyUI IMAGE batch, with a pixel cap and a memory budget."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.errors import ResultTooLarge, RunComfyError, clip


def load_images(paths: list[Path], cap: int, budget: int) -> tuple[torch.Tensor, list[str]]:
    """PNG/JPEG/WebP files → (one IMAGE batch [N, H, W, 3], notes).

    A batch needs one size: images of another size than the first are resized to it
    (stretching), and a note says which ones and from what size.  Each image's pixel count
    (``cap``: RUNCOMFY_MAX_IMAGE_MP) and the batch's memory (``budget``: RUNCOMFY_MAX_RESULT_GB)
    are checked before any pixel is decoded.
    """
    first = None
    frames, notes = [], []
    for i, path in enumerate(paths):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img_file = Image.open(path)
        except Image.DecompressionBombError:
            raise too_many_pixels(path, None, cap) from None
        except OSError as e:
            raise RunComfyError(f"The result image {path} could not be read ({clip(e)}). "
                                "The file is kept; open it to check.") from None
        with img_file:
            w, h = img_file.size
            if w * h > cap:
                raise too_many_pixels(path, (w, h), cap)
            size = first or (w, h)
            if len(paths) * size[0] * size[1] * 12 > budget:
                raise ResultTooLarge(f"The {len(paths)} result images of {size[0]}x{size[1]} would "
                                     f"take {len(paths) * size[0] * size[1] * 12 / 2**30:.1f} GiB as "
                                     f"an IMAGE batch, over the {budget / 2**30:.1f} GiB budget "
                                     "(RUNCOMFY_MAX_RESULT_GB). The files are saved in the output "
                                     "folder.")
            try:
                img = img_file.convert("RGB")
            except OSError as e:
                raise RunComfyError(f"The result image {path} could not be read ({clip(e)}). "
                                    "The file is kept; open it to check.") from None
            if first is None:
                first = img.size
            elif img.size != first:
                notes.append(f"image {i + 1} was {img.size[0]}x{img.size[1]}; resized to "
                             f"{first[0]}x{first[1]} to share a batch with image 1")
                img = img.resize(first, Image.Resampling.LANCZOS)
            frames.append(torch.from_numpy(np.asarray(img).copy()))
    batch = torch.stack(frames).to(torch.float32)
    return batch.div_(255.0), notes


def too_many_pixels(path, size, cap: int) -> ResultTooLarge:
    what = f"{size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} MP)" if size else "far too many pixels"
    return ResultTooLarge(f"The result image {path} has {what}, over the {cap / 1e6:.0f} MP "
                          "allowed for one image (RUNCOMFY_MAX_IMAGE_MP). The file is kept; "
                          "open it with another program.")
