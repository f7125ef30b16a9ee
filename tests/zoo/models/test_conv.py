import pytest

import zoo
from tests.zoo.common import digits, run_model_checks


@pytest.mark.parametrize("shape", [(8, 8, 1), (7, 9, 1), (12, 10, 3)])
def test_conv_vae_any_image_size(shape, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    x = digits() if shape == (8, 8, 1) else (rng.uniform(size=(128,) + shape) > 0.7).astype("float32")

    def make():
        return zoo.ConvVAE(input_shape=shape, latent_dim=3, filters=(8, 16))

    model, _ = run_model_checks(make, x, tmp_path, epochs=5)
    assert model.decode(np.zeros((2, 3), "float32")).shape == (2,) + shape


def test_rank_two_shape_says_add_a_channel():
    with pytest.raises(ValueError, match=r"\(28, 28, 1\)"):
        zoo.ConvVAE(input_shape=(28, 28))
