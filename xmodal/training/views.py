"""More views of each training photo: the photo mirrored and randomly cropped.

With 5,090 captioned training photos the map overfits in three epochs; showing it
each photo several ways (the photo, its mirror image, four random crops) at random
through training lets it train longer and generalise better, and costs a search
nothing: photos are indexed as before, whole. Chosen on a dev split
(``benchmarks/augment.py``, docs/results.md).

A view is a picture file in the cache (``views/RECIPE/NAME/``), written once and then read
by the visual model like any photo, so its features are cached and a rerun
repeats them. Crops are drawn from the photo's file name, so a rerun, or the same
photo in another folder, gets the same crops.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps

from xmodal.core.cache import cache_root
from xmodal.core.errors import XmodalError
from xmodal.core.progress import photo_progress
from xmodal.vision.heif import heif_supported

VIEWS = ("whole", "mirror", "crop1", "crop2", "crop3", "crop4")
QUALITY = 95  # JPEG quality of a written view
CROP_AREA = (0.5, 1.0)  # share of the photo's area a crop keeps
CROP_RATIO = (3 / 4, 4 / 3)  # a crop's aspect ratio, before it is resized to the photo's size
RECIPE = "v1"  # the cache folder of views made this way: a new recipe gets a new one


def view_of(image: Image.Image, name: str, seed: str) -> Image.Image:
    """View ``name`` of ``image``: itself, its mirror image, or a random crop of 50 to 100%
    of its area (Inception's random resized crop) resized back to its size and mirrored half
    the time, drawn reproducibly from ``seed``."""
    if name == "whole":
        return image
    if name == "mirror":
        return ImageOps.mirror(image)
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; views are {', '.join(VIEWS)}")
    rng = random.Random(int(hashlib.sha1(f"{name}:{seed}".encode()).hexdigest()[:16], 16))
    width, height = image.size
    for _ in range(10):  # torchvision's RandomResizedCrop: ten tries, then the whole frame
        area = rng.uniform(*CROP_AREA) * width * height
        ratio = math.exp(rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
        w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            break
    else:
        left, top, w, h = 0, 0, width, height
    crop = image.crop((left, top, left + w, top + h)).resize((width, height), Image.Resampling.BICUBIC)
    return ImageOps.mirror(crop) if rng.random() < 0.5 else crop


def view_files(paths: Sequence[str | os.PathLike], name: str, quiet: bool = False) -> list[Path]:
    """View ``name`` of each photo of ``paths`` as a file, written into the cache the first
    time (``whole`` is the photo itself), with a progress bar unless ``quiet``. A view is
    named by its photo's resolved path, size and modification time, so an edited photo gets
    a new one."""
    if name == "whole":
        return [Path(p) for p in paths]
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; views are {', '.join(VIEWS)}")
    heif_supported()  # phones' HEIC photos open as the decoder opens them
    folder = cache_root() / "views" / RECIPE / name
    out = []
    for path in paths:
        source = Path(path).resolve()
        try:
            stat = source.stat()
        except OSError as error:
            raise XmodalError(f"cannot read image {source}: {error.strerror or error}") from None
        key = hashlib.sha1(f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:20]
        out.append(folder / key[:2] / f"{key}.jpg")
    missing = [(Path(path), target) for path, target in zip(paths, out) if not target.is_file()]
    with photo_progress(quiet or not missing) as progress:
        task = progress.add_task(f"views ({name})", total=len(missing))
        for source, target in missing:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise XmodalError(f"cannot write views into the cache ({target.parent}): {error.strerror or error}") from None
            try:
                with Image.open(source) as image:
                    view = view_of(ImageOps.exif_transpose(image).convert("RGB"), name, source.name)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                raise XmodalError(f"cannot read image {source}: {error}") from None
            partial = target.with_suffix(f".{os.getpid()}.part")
            try:
                view.save(partial, format="JPEG", quality=QUALITY)
                partial.replace(target)  # a killed run leaves no half-written view under the real name
            except OSError as error:
                partial.unlink(missing_ok=True)
                raise XmodalError(f"cannot write a view of {source} into the cache ({target.parent}): {error.strerror or error}") from None
            progress.advance(task)
    return out
