"""What tools write that the COCO reader would report as something else, named as what it is
before ``bbadj snap`` reads the boxes (``file.read_input``; the command runs that before it loads
the model, so a bad file costs no model load).

- An ``image_id`` written as a string (VGG Image Annotator writes ``"image_id": "3"``) where the
  images' ids are integers names no image: the reader would say the image does not exist.
- A ``file_name`` that is empty, or that names a folder (X-AnyLabeling wrote one), is no image
  file: the reader would say the image is not found (and not which of the two it is).
"""

from __future__ import annotations

from pathlib import Path

from ..data.coco import is_inside, is_json_int, shown
from ..util.errors import DataError


def check_image_ids(images: list, entries: list, path: Path, results: bool = False) -> None:
    """``DataError`` naming the first entry of ``entries`` whose ``image_id`` is a string while
    the ids of ``images`` are integers (the types differ, so it refers to no image), and how many
    such entries there are. ``results``: the entries are a results file's (named by position)."""
    ids = [im.get("id") for im in images if isinstance(im, dict)]
    if not ids or not all(is_json_int(i) for i in ids):
        return  # images' ids that are not integers are the reader's error
    strings = [(k, e) for k, e in enumerate(entries) if isinstance(e, dict) and isinstance(e.get("image_id"), str)]
    if not strings:
        return
    k, entry = strings[0]
    iid = entry["image_id"]
    where = f"entry {k}" if results else f"annotation id {shown(entry.get('id'))}"
    known = {int(i) for i in ids}
    same = f"; image id {int(iid)} exists as a number" if iid.strip().isdecimal() and int(iid) in known else ""
    more = f" ({len(strings)} entries so)" if len(strings) > 1 else ""
    raise DataError(
        f"{path}: {where} has image_id {shown(iid)}, a string (str), but the images' ids are "
        f"integers (int): the types differ, so it refers to no image{same}{more}; write the "
        f"image_id as a number"
    )


def check_file_names(images: list, entries: list, path: Path, images_dir: str | Path) -> None:
    """``DataError`` naming the first image, of those ``entries`` refer to, whose ``file_name`` is
    empty or names a folder under ``images_dir``: stopped as a missing image file is. A name
    outside the folder (absolute, or with ``..``) is never looked at as written (``coco.is_inside``)."""
    images_dir = Path(images_dir)
    used = {int(e["image_id"]) for e in entries if isinstance(e, dict) and is_json_int(e.get("image_id"))}
    for im in images:
        if not (isinstance(im, dict) and is_json_int(im.get("id")) and int(im["id"]) in used):
            continue
        iid, name = int(im["id"]), im.get("file_name")
        if not isinstance(name, str):
            continue  # the reader's error
        if name.strip() == "":
            raise DataError(
                f"{path}: image id {iid} has an empty file_name ({name!r}): it names no image file under {images_dir}"
            )
        if is_inside(name) and (images_dir / name).is_dir():
            raise DataError(
                f"{path}: image id {iid} has the file_name {name!r}, which names a folder, not an "
                f"image file: {images_dir / name}"
            )
