"""Image decoding: once per image, to an RGB uint8 tensor as annotation tools show it (EXIF
orientation applied), with errors that name the file.

Phones store a portrait photo as landscape pixels plus an EXIF orientation tag; CVAT, Label Studio,
browsers and image viewers show it turned upright, so the boxes drawn on it are in the upright
frame. Every reader of pixels (train, evaluate, snap, ``bbadj.adjust``, the notebook) goes
through ``read_rgb``, so all see the same upright image.

libjpeg does not fail on a JPEG damaged in the middle (bytes overwritten, a block copied within
it): it prints a warning such as "Corrupt JPEG data: premature end of data segment" on the
process's standard error, naming no file, and returns garbage pixels. ``read_rgb`` catches that
message while it decodes and raises ``CorruptImage`` naming the file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, read_file

from ..util.errors import DataError

JPEG_MAGIC = [0xFF, 0xD8]
EXIF_ORIENTATION = 0x0112


class CorruptImage(DataError):
    """An image file that cannot be decoded, or that libjpeg decoded with a warning (damaged
    data): its pixels are not what the annotator saw. ``path`` is the file."""

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)

    def __reduce__(self):  # raised in a data-loader worker, it crosses to the main process whole
        return type(self), (self.args[0], self.path)


def read_rgb(path: str | Path, device: str | torch.device = "cpu") -> torch.Tensor:
    """Decode an image file to a (3, H, W) uint8 tensor, upright (EXIF orientation applied).

    Grayscale, RGBA, palette and CMYK images are converted to RGB (``ImageReadMode.RGB``), and
    16-bit PNGs to 8 bits. On CUDA, JPEG decoding runs on the GPU (nvjpeg: the orientation is
    applied after it; nvjpeg reports no warnings, so there a damaged JPEG is caught only when it
    fails). A missing or empty file raises ``DataError`` naming it; a file that cannot be decoded,
    or a JPEG that libjpeg decodes with a warning, raises ``CorruptImage`` (a ``DataError``)
    naming it, not a crash deep in a data-loader worker.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise CorruptImage(f"image file is empty (0 bytes): {path}", path)
    try:
        data = read_file(str(path))
        if torch.device(device).type == "cuda" and data[:2].tolist() == JPEG_MAGIC:
            from torchvision.io import decode_jpeg

            return orient(decode_jpeg(data, mode=ImageReadMode.RGB, device=device), exif_orientation(path))
    except RuntimeError as e:
        raise CorruptImage(f"cannot decode image {path}: {e}", path) from e
    return decode_rgb(data, path).to(device)


def decode_rgb(data: bytes | torch.Tensor, name: str | Path) -> torch.Tensor:
    """An encoded image in memory (the bytes of a JPEG, PNG, ...; e.g. fetched over HTTP) -> a
    (3, H, W) uint8 tensor, upright, on the CPU, as ``read_rgb`` decodes a file: what cannot be
    decoded, and a JPEG that libjpeg decodes with a warning, raise ``CorruptImage`` naming
    ``name`` (the file or URL it came from)."""
    if not isinstance(data, torch.Tensor):
        data = torch.frombuffer(bytearray(data), dtype=torch.uint8) if len(data) else torch.zeros(0, dtype=torch.uint8)
    if data.numel() == 0:
        raise CorruptImage(f"image is empty (0 bytes): {name}", name)
    try:
        if data[:2].tolist() == JPEG_MAGIC:
            with libjpeg_warnings() as warned:
                image = decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
        else:  # libpng's warnings (an sRGB profile it dislikes) are no sign of damage
            image, warned = decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True), lambda: ""
    except RuntimeError as e:
        raise CorruptImage(f"cannot decode image {name}: {e}", name) from e
    if warned():
        raise CorruptImage(
            f"corrupt image {name}: libjpeg decoded it with a warning ({warned()}): its pixels are "
            f"not the photograph's; replace the file from a good copy",
            name,
        )
    return to_uint8(image, name)


_stderr_lock = threading.Lock()


@contextmanager
def libjpeg_warnings():
    """Within the block, what is written to file descriptor 2 (libjpeg's warnings go there, from
    C) is caught instead of printed; the block's value, called afterwards, returns it stripped (''
    for none). libjpeg prints only the first warning of an image, so the text is short. Python's
    own warnings of the block (torchvision's deprecation notice) would go to descriptor 2 too:
    they are held and issued again after it. A lock keeps two threads of this process from
    swapping descriptor 2 at once."""
    caught = {"text": ""}
    with _stderr_lock, tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        sys.stderr.flush()  # what Python wrote before the block is not libjpeg's
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield lambda: caught["text"]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            caught["text"] = sink.read().decode(errors="replace").strip()
    for w in held:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def exif_orientation(path: str | Path) -> int:
    """The file's EXIF orientation (1 to 8; 1 when it has none or it cannot be read). Pillow reads
    the header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - no readable tag: shown as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """A (C, H, W) image as stored -> as shown under EXIF ``orientation`` (what PIL's
    ``ImageOps.exif_transpose`` and torchvision's ``apply_exif_orientation`` give)."""
    flip_w, flip_h, transpose = {
        1: (0, 0, 0),
        2: (1, 0, 0),
        3: (1, 1, 0),
        4: (0, 1, 0),
        5: (0, 0, 1),
        6: (1, 0, 1),
        7: (1, 1, 1),
        8: (0, 1, 1),
    }[orientation]
    if transpose:
        image = image.transpose(-1, -2)
    dims = [d for d, f in ((-1, flip_w), (-2, flip_h)) if f]
    return image.flip(dims) if dims else image


def to_uint8(image: torch.Tensor, path) -> torch.Tensor:
    """8 bits per channel. decode_image keeps a 16-bit PNG's uint16 values, which ``normalize``
    (x / 255) would read as far too bright: they become round(v * 255 / 65535) = round(v / 257),
    the 8-bit value that 16-bit value stands for."""
    if image.dtype == torch.uint8:
        return image
    if image.dtype == torch.uint16:
        return torch.div(image.to(torch.int32) + 128, 257, rounding_mode="floor").to(torch.uint8)
    raise DataError(f"{path}: decoded as {image.dtype}; bbadj reads 8- and 16-bit images")


def normalize(image: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (3, H, W) -> float32 normalised; the normalisation mean becomes 0, which is what
    ``roi_align`` returns outside the image, so off-image parts of a crop read as the mean."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=image.device).view(3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=image.device).view(3, 1, 1)
    # decode_image gives a (3, H, W) view of HWC data: the float passes run 2-4x slower on that
    # strided view than on a contiguous copy (a cheap uint8 one); and /255, -mean, /std fold
    # into one multiply and one add.
    return image.contiguous().float().mul_(1.0 / (255.0 * s)).add_(-m / s)


def check_size(image: torch.Tensor, width: int, height: int, path) -> None:
    """The decoded (upright) image must have the annotation's size. When only the stored size
    matches (EXIF orientation 5 to 8 turn the image a quarter), the message says so: the file's
    width and height were written from the stored pixels (Label Studio's COCO export does), or the
    boxes were drawn on a viewer that ignores the tag."""
    h, w = image.shape[-2:]
    if (h, w) == (height, width):
        return
    message = f"{path}: decoded size {w}x{h} differs from the annotation's {width}x{height}"
    if (w, h) == (height, width) and exif_orientation(path) >= 5:
        message += (
            f": the file has EXIF orientation {exif_orientation(path)}, so annotation tools show it turned "
            f"upright ({w}x{h}); {width}x{height} is its stored size, before that turn. Write the upright "
            f"size in the annotations if the boxes were drawn on the upright photo, or set the tag to "
            f"1 (exiftool -Orientation=1 -n FILE) if they were drawn on the stored pixels"
        )
    raise DataError(message)
