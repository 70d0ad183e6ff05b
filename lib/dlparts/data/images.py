"""Real photographs shipped with the book (from scikit-image's bundled sample data)."""

from __future__ import annotations

import numpy as np

from .paths import data_dir

#: name -> (file, description). Licences and checksums are in data/README.md.
PHOTOS = {
    "chelsea": ("chelsea.png", "Chelsea the cat (CC0, Stefan van der Walt)"),
    "coffee": ("coffee.png", "a cup of coffee (CC0, Rachel Michetti)"),
    "astronaut": ("astronaut.png", "astronaut Eileen Collins (public domain, NASA)"),
    "rocket": ("rocket.jpg", "a Falcon 9 launch (public domain, SpaceX)"),
}


def load_photo(name: str) -> np.ndarray:
    """A shipped photograph as float32 ``(H, W, 3)`` RGB in [0, 1].

    Raises ``ValueError`` naming the available photos for an unknown name.
    """
    from PIL import Image

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; available: {', '.join(PHOTOS)}")
    with Image.open(data_dir() / PHOTOS[name][0]) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
