"""Write a CIFAR-10-format stand-in data set cut from the photographs that ship offline.

For machines without CIFAR-10 (no internet): ten photographs from scikit-image and
scikit-learn become ten classes; every image is a random 32x32 crop (random scale, random
left-right flip) of one photograph, labelled by which photograph it came from. The files are
the official python-pickle batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
``batches.meta``) so every CIFAR code path runs on them unchanged:

    python scripts/make_standin_cifar.py --out data/standin-cifar --per-batch 2000
    cnntopo reproduce fig11 --scale laptop --data-dir data/standin-cifar

It is NOT CIFAR-10: the networks learn natural-image filters (edges, colour opponency) from
natural photographs, but the figures are a stand-in for the paper's, not a reproduction.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from cnntopo.files import atomic_write_bytes  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower",
          "camera", "grass", "brick", "gravel")


def load_photos():
    """The ten photographs as uint8 (H, W, 3) arrays (grey ones repeated over channels)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    sample = dict(zip(("china", "flower"), load_sample_images().images))
    photos = []
    for name in PHOTOS:
        img = sample[name] if name in sample else getattr(skimage.data, name)()
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        photos.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return photos


def random_crops(photo, n, rng):
    """`n` random square crops of `photo`, side 32..96 px, resized to 32x32, (n, 3, 32, 32)."""
    from skimage.transform import resize

    h, w, _ = photo.shape
    out = np.empty((n, 3, 32, 32), dtype=np.uint8)
    for i in range(n):
        side = int(rng.integers(32, min(97, h, w)))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = photo[y:y + side, x:x + side]
        if side != 32:
            crop = (resize(crop, (32, 32), anti_aliasing=True, preserve_range=True) + 0.5)
            crop = np.clip(crop, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1)
    return out


def make_batch(photos, per_batch, rng, name):
    labels = rng.permutation(np.arange(per_batch) % len(photos))
    data = np.empty((per_batch, 3, 32, 32), dtype=np.uint8)
    for c, photo in enumerate(photos):
        where = np.flatnonzero(labels == c)
        data[where] = random_crops(photo, where.size, rng)
    return {b"batch_label": name.encode(), b"labels": labels.tolist(),
            b"data": data.reshape(per_batch, -1),
            b"filenames": [f"{PHOTOS[c]}_{i}.png".encode() for i, c in enumerate(labels)]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for cifar-10-batches-py/")
    parser.add_argument("--per-batch", type=int, default=2000,
                        help="images per batch file (CIFAR-10 has 10000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.per_batch < 10:
        parser.error(f"--per-batch must be at least 10 (one image a class); got {args.per_batch}")

    rng = np.random.default_rng(args.seed)
    photos = load_photos()
    folder = Path(args.out) / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = make_batch(photos, args.per_batch, rng, name)
        atomic_write_bytes(folder / name, pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [p.encode() for p in PHOTOS], b"num_cases_per_batch": args.per_batch,
            b"num_vis": 3072}
    atomic_write_bytes(folder / "batches.meta", pickle.dumps(meta, protocol=2))
    print(f"wrote {len(names)} batches of {args.per_batch} images to {folder}")


if __name__ == "__main__":
    main()
