"""zoo.plots: the tiled mosaic behind every PNG grid, and the PNGs themselves."""

import numpy as np
import pytest

from zoo import plots

# PNG grids of numpy arrays: `python -m tests` runs this module on one backend (tests/conftest.py).
pytestmark = pytest.mark.once


def test_tile_places_each_image_in_reading_order_with_gaps():
    images = np.arange(5 * 2 * 3, dtype="float32").reshape(5, 2, 3)
    mosaic = plots.tile(images, columns=3, gap=1, fill=-1.0)
    assert mosaic.shape == (2 * 2 + 1, 3 * 3 + 2)
    for i, image in enumerate(images):
        top, left = (i // 3) * 3, (i % 3) * 4
        np.testing.assert_array_equal(mosaic[top:top + 2, left:left + 3], image)
    assert (mosaic[2] == -1).all() and (mosaic[:, 3] == -1).all()  # gaps between rows and columns
    assert (mosaic[3:, 8:] == -1).all()  # the missing sixth image is left blank


def test_tile_keeps_colour_channels():
    images = np.random.default_rng(0).random((4, 5, 5, 3)).astype("float32")
    mosaic = plots.tile(images, columns=2)
    assert mosaic.shape == (11, 11, 3)
    np.testing.assert_array_equal(mosaic[6:, 6:], images[3])


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (6, 6, 3)])
def test_grids_are_written_as_pngs_of_the_expected_size(shape, tmp_path):
    import matplotlib.image

    x = np.random.default_rng(0).random((20, int(np.prod(shape)))).astype("float32")
    samples = plots.save_samples(x, shape, tmp_path / "samples.png")
    pairs = plots.save_reconstructions(x, 1 - x, shape, tmp_path / "reconstructions.png")
    for path, rows in ((samples, 2), (pairs, 4)):
        height, width = matplotlib.image.imread(path).shape[:2]
        # figsize (10 × 0.8, rows × 0.8 + 0.4 for the title) inches at 100 dpi
        assert (height, width) == (round(100 * (rows * 0.8 + 0.4)), 800), path


def test_data_that_is_not_an_image_gets_no_grid(tmp_path):
    assert plots.save_samples(np.zeros((4, 7)), (7,), tmp_path / "s.png") is None
    assert not (tmp_path / "s.png").exists()
