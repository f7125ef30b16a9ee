"""losses.get and losses.names (losses/__init__.py)."""

import pytest

import losses

# Names and arguments of the registry: `python -m tests` runs this module on one backend (tests/conftest.py).
pytestmark = pytest.mark.once

REQUIRED = {"bernoulli", "continuous_bernoulli", "gaussian", "sigma_vae", "laplace", "huber",
            "logistic", "student_t", "discretized_logistic"}


def test_names_cover_the_contract():
    assert REQUIRED <= set(losses.names())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_name_builds_a_likelihood(name):
    lik = losses.get(name)
    assert isinstance(lik, losses.Likelihood)
    assert losses.get(lik) is lik


def test_arguments_pass_through_and_spelling_is_forgiving():
    lik = losses.get("Student-T", df=7.0, scale="learned")
    assert isinstance(lik, losses.StudentT) and lik.df == 7.0 and lik.scale == "learned"
    assert losses.get("sigma_vae").scale == "optimal"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Valid names: bernoulli, continuous_bernoulli"):
        losses.get("mse")


def test_unknown_argument_lists_the_valid_ones():
    with pytest.raises(ValueError, match="alpha, scale"):
        losses.get("huber", delta=1.0)


def test_instance_with_arguments_is_rejected():
    with pytest.raises(ValueError, match="instance"):
        losses.get(losses.Huber(), alpha=2.0)


def test_wrong_type_is_rejected():
    with pytest.raises(ValueError, match="Valid names"):
        losses.get(3)
