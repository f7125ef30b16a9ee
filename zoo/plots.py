"""PNG grids of samples, reconstructions and latent spaces (matplotlib, no display needed)."""

import math

import numpy as np


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def as_images(x, data_shape):
    """(N, H, W) or (N, H, W, 3) arrays for display; flat square data is reshaped."""
    x = np.asarray(x, dtype="float32").reshape((-1,) + tuple(data_shape))
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            return None
        x = x.reshape(-1, side, side)
    if x.ndim == 4:
        x = x[..., 0] if x.shape[-1] == 1 else x[..., :3]
    return np.clip(x, 0.0, 1.0)


def tile(images, columns, gap=1, fill=1.0):
    """One mosaic array of images (N, H, W[, 3]), `columns` to a row, `gap` pixels of `fill` between."""
    images = np.asarray(images, dtype="float32")
    height, width = images.shape[1:3]
    rows = math.ceil(len(images) / columns)
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap) + images.shape[3:],
                     fill, dtype="float32")
    for i, image in enumerate(images):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        mosaic[top:top + height, left:left + width] = image
    return mosaic


def image_grid(images, path, columns, title=None, row_labels=None):
    """Save images (N, H, W[, 3]) as a grid PNG; returns the path.

    One imshow of a tiled mosaic: a subplot per image took ~2 s per 100 images in matplotlib.
    """
    plt = pyplot()
    rows, gap = math.ceil(len(images) / columns), 1
    fig, ax = plt.subplots(figsize=(columns * 0.8, rows * 0.8 + (0.4 if title else 0)))
    ax.imshow(tile(images, columns, gap), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks([])
    height = np.shape(images)[1]
    if row_labels:
        ax.set_yticks([r * (height + gap) + (height - 1) / 2 for r in range(rows)], row_labels[:rows], fontsize=7)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_samples(images, data_shape, path, title="Samples: E[x | z], z ~ N(0, I)", columns=10):
    images = as_images(images, data_shape)
    return None if images is None else image_grid(images, path, columns, title)


def save_reconstructions(x, reconstructions, data_shape, path, columns=10):
    """Pairs of rows: inputs above their reconstructions."""
    x, r = as_images(x, data_shape), as_images(reconstructions, data_shape)
    if x is None:
        return None
    rows = []
    for start in range(0, len(x), columns):
        rows += [x[start:start + columns], r[start:start + columns]]
    labels = ["input", "recon."] * (len(rows) // 2)
    return image_grid(np.concatenate(rows), path, columns, "Inputs (odd rows) and reconstructions",
                      labels)


def latent_grid(size=12):
    """z on a size×size grid of standard-normal quantiles (a 2-D latent map)."""
    from scipy.stats import norm

    q = norm.ppf(np.linspace(0.04, 0.96, size))
    return np.array([[a, b] for b in q[::-1] for a in q], dtype="float32")


def traversal(z_center, dims, steps=9, span=2.5):
    """Rows of z: dimension d of z_center swept over z_center[d] ± span, one row per d."""
    values = np.linspace(-span, span, steps)
    rows = []
    for d in dims:
        z = np.repeat(z_center[None], steps, axis=0)
        z[:, d] = z_center[d] + values
        rows.append(z)
    return np.concatenate(rows).astype("float32")
