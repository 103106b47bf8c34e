"""How much of look-alike search each way of storing the visual features keeps.

    .venv/bin/python benchmarks/visual_storage.py [--shared ../shared/data] [--work data]

The EfficientNet-Lite2 features of the shared sets' real photos (Flickr8k,
mini-places-20, Imagenette: 17,415), stored as:
- float32 (format 1), the reference;
- float16;
- one byte per feature, each photo's scaled to a largest entry of 255 (format 2);
- PCA to 128, 256 and 512 dimensions, fitted on the other photos' features
  (centred, as PCA is; cosine on the projections).

Two measures, exact scans (no HNSW, so only the storage differs):
- **top-10 overlap**: for every 20th photo, the share of its 10 nearest
  photos (itself left out) by float32 cosine that the stored form also puts
  in its top 10;
- **same class@10 on Imagenette**: for each of its 3,925 val photos, the
  share of its 10 nearest Imagenette photos of its own class (a look-alike
  benchmark with a truth that does not come from the float32 vectors).
"""

from __future__ import annotations

import numpy as np
from results import data_arguments, unpack
from store_scale import real_features

from xmodal.devise.encoder import Encoder
from xmodal.text.factory import load_space
from xmodal.training.datasets import read_labeled

K = 10


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def nearest(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each query row's K nearest rows by cosine, itself left out."""
    vectors = unit(rows.astype(np.float32))
    scores = vectors[queries] @ vectors.T
    scores[np.arange(len(queries)), queries] = -np.inf
    return np.argsort(-scores, axis=1)[:, :K]


def one_byte(features: np.ndarray) -> np.ndarray:
    return np.rint(features * (255 / np.maximum(features.max(axis=1, keepdims=True), 1e-12)))


def pca(features: np.ndarray, dims: int, fit: np.ndarray) -> np.ndarray:
    mean = features[fit].mean(axis=0)
    _, _, axes = np.linalg.svd(features[fit] - mean, full_matrices=False)
    return (features - mean) @ axes[:dims].T


def main() -> None:
    args = data_arguments(__doc__.splitlines()[0]).parse_args()
    roots = unpack(args.shared, args.work, ("flickr8k-captions", "mini-places-20", "imagenette-val"))
    features, _ = real_features(roots, Encoder.load(load_space()).visual)
    nette = read_labeled(roots["imagenette-val"])
    nette_rows = np.arange(len(features) - len(nette.paths), len(features))  # real_features puts Imagenette last
    labels = np.array(nette.labels)
    sample = np.arange(0, len(features), 20)
    fit = np.setdiff1d(np.arange(len(features)), sample)
    reference = nearest(features, sample)
    forms = {
        "float32 (format 1)": features,
        "float16": features.astype(np.float16),
        "one byte per feature (format 2)": one_byte(features),
        **{f"PCA {d}-d": pca(features, d, fit) for d in (128, 256, 512)},
    }
    print(f"{len(features):,} photos; top-10 overlap over {len(sample):,} of them; Imagenette {len(nette_rows):,} photos\n")
    print("| stored as | bytes per photo | top-10 overlap with float32 | Imagenette same class@10 |")
    print("|---|---:|---:|---:|")
    sizes = {"float32 (format 1)": 5120, "float16": 2560, "one byte per feature (format 2)": 1280}
    sizes |= {f"PCA {d}-d": 2 * d for d in (128, 256, 512)}  # stored as float16
    for name, rows in forms.items():
        found = nearest(rows, sample)
        overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, reference)])
        within = nearest(rows[nette_rows], np.arange(len(nette_rows)))
        same = (labels[within] == labels[:, None]).mean()
        print(f"| {name} | {sizes[name]:,} | {overlap:.3f} | {same:.3f} |")


if __name__ == "__main__":
    main()
