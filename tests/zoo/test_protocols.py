import pytest

import zoo
from zoo import protocols

# Published numbers and their protocols, as data: `python -m tests` runs this module on one backend (tests/conftest.py).
pytestmark = pytest.mark.once


def test_every_published_number_names_a_preset_a_protocol_and_an_estimator():
    for entry in protocols.PUBLISHED:
        assert entry.preset in zoo.presets.names(), entry
        assert entry.protocol in protocols.PROTOCOLS, entry
        assert entry.k is None or entry.k >= 1, entry
        assert 70 < entry.nll < 100 and entry.source and entry.model, entry
    keys = [(entry.preset, entry.protocol) for entry in protocols.PUBLISHED]
    assert len(keys) == len(set(keys)), "one number per preset and protocol"


def test_the_iwae_presets_have_both_binarizations_apart():
    # Table 1 (dynamic) and the appendix (static) are different numbers for the same model.
    assert protocols.published("iwae_mnist", "dynamic-mnist").nll == 86.76
    assert protocols.published("iwae_mnist", "static-mnist").nll == 88.71
    assert [e.protocol for e in protocols.published("iwae_mnist_2layer")] == ["dynamic-mnist", "static-mnist"]
    assert protocols.published("iaf_mnist") == [] and protocols.published("mog_prior_mnist", "static-mnist") is None


def test_comparable_needs_the_same_protocol_and_estimator():
    entry = protocols.published("vampprior_mnist", "static-mnist")
    assert protocols.comparable(entry, "static-mnist", 5000)
    assert not protocols.comparable(entry, "static-mnist", 1000)
    assert not protocols.comparable(entry, "dynamic-mnist", 5000)
    planar = protocols.published("planar_mnist", "static-mnist")
    assert planar.estimator == "bound (−ELBO)" and protocols.comparable(planar, "static-mnist", None)


def test_an_unknown_protocol_is_named():
    with pytest.raises(ValueError, match="Unknown protocol 'static'. Valid protocols: dynamic-mnist, static-mnist"):
        protocols.published("iwae_mnist", "static")


def test_protocols_describe_their_data():
    static = protocols.PROTOCOLS["static-mnist"].describe()
    assert "50,000 training images, 10,000 validation" in static and "--data binarized-mnist" in static
    assert "no validation split" in protocols.PROTOCOLS["dynamic-mnist"].describe()


def test_presets_describe_and_paper_nll_follow_the_protocols():
    text = zoo.presets.describe("iwae_mnist_k50")
    assert "84.78 nats" in text and "dynamic-mnist" in text and "87.10 nats" in text and "static-mnist" in text
    assert "no number for this exact model" in zoo.presets.describe("iaf_mnist")
    # PAPER_NLL: the number on the protocol each preset's bench command runs.
    assert zoo.presets.PAPER_NLL["iwae_mnist"] == (86.76, "dynamic-mnist")
    assert zoo.presets.PAPER_NLL["vampprior_mnist"] == (85.57, "static-mnist")
    assert zoo.presets.PAPER_NLL["ladder_mnist"] == (82.12, "dynamic-mnist") and "iaf_mnist" not in zoo.presets.PAPER_NLL
