import numpy as np
import keras

import losses
from zoo.heads import LikelihoodHead
from tests.helpers import to_numpy


def test_shared_parameters_are_one_trainable_scalar_each():
    head = LikelihoodHead(losses.StudentT(df="learned", scale="shared"), (4, 3))
    head.build((None, 10))
    params = to_numpy(head(np.ones((2, 10), "float32")))
    assert params.shape == (2, 4, 3, 3)
    assert len(head.trainable_weights) == 4  # kernel, bias, shared log σ, shared log ν
    np.testing.assert_allclose(params[..., 1], np.log(0.1), rtol=1e-6)
    np.testing.assert_allclose(params[..., 2], np.log(5.0), rtol=1e-6)


def test_per_dimension_log_scale_starts_at_init_scale():
    head = LikelihoodHead(losses.Gaussian(scale="learned", init_scale=0.3), (5,))
    head.build((None, 7))
    params = to_numpy(head(np.zeros((1, 7), "float32")))
    np.testing.assert_allclose(params[0, :, 1], np.log(0.3), rtol=1e-6)
    np.testing.assert_allclose(params[0, :, 0], 0.0)


def test_spatial_features_map_per_position():
    head = LikelihoodHead("bernoulli", (6, 5, 2))
    head.build((None, 6, 5, 8))
    assert to_numpy(head(np.ones((3, 6, 5, 8), "float32"))).shape == (3, 6, 5, 2)
    assert head.dense.kernel.shape == (8, 2)


def test_config_round_trip():
    head = LikelihoodHead(losses.Huber(alpha=0.5), (3,))
    again = LikelihoodHead.from_config(head.get_config())
    assert again.likelihood.get_config() == head.likelihood.get_config() and again.data_shape == (3,)
