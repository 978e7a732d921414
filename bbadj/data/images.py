"""Image decoding: once per image, to an RGB uint8 tensor, with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, read_file

from .coco import DataError


def read_rgb(path: str | Path, device: str | torch.device = "cpu") -> torch.Tensor:
    """Decode an image file to a (3, H, W) uint8 tensor.

    Grayscale, RGBA, palette and CMYK images are converted to RGB (``ImageReadMode.RGB``), and
    16-bit PNGs to 8 bits. On CUDA, JPEG decoding runs on the GPU. A missing, empty or corrupt
    file raises ``DataError`` naming it, not a crash deep in a data-loader worker.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"image file is empty (0 bytes): {path}")
    try:
        data = read_file(str(path))
        if torch.device(device).type == "cuda" and data[:2].tolist() == [0xFF, 0xD8]:
            from torchvision.io import decode_jpeg

            return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        image = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError as e:
        raise DataError(f"cannot decode image {path}: {e}") from e
    return to_uint8(image, path).to(device)


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
    if image.shape[-2:] != (height, width):
        raise DataError(
            f"{path}: decoded size {image.shape[-1]}x{image.shape[-2]} differs from the annotation's {width}x{height}"
        )
