import math

import pytest

import losses


def test_bits_per_dim_of_a_discrete_bound():
    # 784 binary pixels at 88.71 nats ≈ 0.1632 bits/dim.
    assert losses.bits_per_dim(88.71, 784) == pytest.approx(88.71 / (784 * math.log(2)))


def test_dequantized_density_gets_d_log_l():
    # A uniform density on [0, 1)^D for L-level data: −log p = 0, bound = D·log L → log2(L) bits/dim.
    assert losses.bits_per_dim(0.0, 64, dequantization_levels=17) == pytest.approx(math.log2(17))
    assert losses.dequantization_nats(64, 17) == pytest.approx(64 * math.log(17))
    assert losses.dequantization_nats(64, None) == 0.0


def test_bad_dims():
    with pytest.raises(ValueError, match="num_dims"):
        losses.bits_per_dim(1.0, 0)
