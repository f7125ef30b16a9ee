"""How each published number was measured, so that ours stand only beside a run measured alike.

A number means something only with its protocol: which data (the fixed binarization of MNIST,
or grey MNIST binarized afresh at every step), which images were scored (the official test set),
and with which estimator (importance sampling with k samples, or a variational bound). Two
numbers compare when all three agree; training on fewer of the same training images (holding
some out to pick the epoch) is allowed and said, since it only handicaps the run.

>>> zoo.protocols.published("iwae_mnist_k50")                 # every protocol
>>> zoo.protocols.published("iwae_mnist_k50", "static-mnist")  # the appendix's 87.10
>>> zoo.protocols.PROTOCOLS["dynamic-mnist"].describe()
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Protocol:
    """The data a number is measured on: what trains, what is scored, and how to run it here."""

    name: str
    binarization: str  # "static" (one fixed binary copy) or "dynamic" (fresh each training step)
    train: int  # the paper's training images
    validation: int  # images held out to pick the epoch (0: none)
    test: int
    scored: str  # which images the test number is computed on
    how: str  # the arguments that give this protocol here

    def load(self, data_dir=None, seed=0, validation_fraction=None):
        """This protocol's data as ``zoo.datasets`` gives it (read from ``data_dir`` or downloaded
        once): the official static files, or grey MNIST with its validation and test images
        binarized once from ``seed`` and the training images left grey for the model to binarize
        at each step (``VAE(dynamic_binarization=True)``)."""
        from zoo import datasets

        if self.binarization == "static":
            if validation_fraction is not None:
                raise ValueError(f"{self.name} uses its official validation file; a validation_fraction "
                                 f"applies to {', '.join(n for n, p in PROTOCOLS.items() if p.binarization != 'static')}.")
            return datasets.load("binarized-mnist", data_dir=data_dir)
        return datasets.load("mnist", data_dir=data_dir, seed=seed,
                             validation_fraction=validation_fraction).dynamically_binarized(seed)

    def describe(self):
        held_out = f"{self.validation:,} validation" if self.validation else "no validation split"
        return (f"{self.name}: {self.binarization} binarization, {self.train:,} training images, {held_out}, "
                f"scored on {self.scored} ({self.test:,} images); here: {self.how}")


PROTOCOLS = {
    "static-mnist": Protocol(
        "static-mnist", "static", 50000, 10000, 10000,
        scored="the official test file of Larochelle & Murray's binarization",
        how="--data binarized-mnist (the three official files: zoo.datasets.load('binarized-mnist'))"),
    "dynamic-mnist": Protocol(
        "dynamic-mnist", "dynamic", 60000, 0, 10000,
        scored="MNIST's official test images, binarized once with a fixed seed",
        how="--data mnist --dynamic-binarization (bench/likelihood.py --dynamic-binarization; "
            "training images binarized afresh at every step; by default 6,000 of the 60,000 are held out "
            "to pick the epoch, --validation-fraction 0 trains on all of them and keeps the last weights)"),
}


@dataclasses.dataclass(frozen=True)
class Published:
    """One published test number: the preset that reproduces its model, and how it was measured."""

    preset: str
    protocol: str  # a PROTOCOLS key
    nll: float  # nats, on the protocol's test images
    k: int | None  # importance samples of the estimate; None: the number is a bound (−ELBO)
    source: str  # paper and table
    model: str  # the paper's name for the model
    note: str = ""

    @property
    def estimator(self):
        return estimator_name(self.k)


def estimator_name(k):
    """"IS, k = 5000" for an importance-sampled −log p(x), "bound" for a −ELBO (k None)."""
    return "bound (−ELBO)" if k is None else f"IS, k = {k}"


_IWAE = "Burda, Grosse & Salakhutdinov 2016"
_VAMP = "Tomczak & Welling 2018"

#: Every paper number the presets are compared with, with where it stands in its paper. The IWAE
#: Table 1 rows are also quoted by an independent reproduction (github.com/nbip/IWAE).
PUBLISHED = (
    # IWAE, Table 1: grey MNIST binarized afresh, 3,280 passes over all 60,000 training images.
    Published("iwae_mnist", "dynamic-mnist", 86.76, 5000, f"{_IWAE}, Table 1", "VAE, 1 stochastic layer, k = 1"),
    Published("iwae_mnist_k5", "dynamic-mnist", 85.54, 5000, f"{_IWAE}, Table 1", "IWAE, 1 stochastic layer, k = 5"),
    Published("iwae_mnist_k50", "dynamic-mnist", 84.78, 5000, f"{_IWAE}, Table 1", "IWAE, 1 stochastic layer, k = 50"),
    Published("iwae_mnist_2layer", "dynamic-mnist", 82.90, 5000, f"{_IWAE}, Table 1",
              "IWAE, 2 stochastic layers, k = 50", note="the 2-layer VAE (k = 1): 85.33"),
    # IWAE, appendix: the same models on the fixed binarization (its 50,000 training images).
    Published("iwae_mnist", "static-mnist", 88.71, 5000, f"{_IWAE}, appendix (fixed binarization)",
              "VAE, 1 stochastic layer, k = 1"),
    Published("iwae_mnist_k5", "static-mnist", 87.63, 5000, f"{_IWAE}, appendix (fixed binarization)",
              "IWAE, 1 stochastic layer, k = 5"),
    Published("iwae_mnist_k50", "static-mnist", 87.10, 5000, f"{_IWAE}, appendix (fixed binarization)",
              "IWAE, 1 stochastic layer, k = 50"),
    Published("iwae_mnist_2layer", "static-mnist", 85.32, 5000, f"{_IWAE}, appendix (fixed binarization)",
              "IWAE, 2 stochastic layers, k = 50",
              note="the 2-layer VAE (k = 1): 88.08; both as later static-MNIST comparisons cite them"),
    # VampPrior: static MNIST, the official three files, IS with 5,000 samples (their code's S).
    Published("vampprior_mnist", "static-mnist", 85.57, 5000, f"{_VAMP}, static MNIST results", "VAE + VampPrior",
              note="the same networks with a standard prior: 88.56"),
    Published("hvae_vampprior_mnist", "static-mnist", 83.19, 5000, f"{_VAMP}, static MNIST results", "HVAE (L = 2) + VampPrior"),
    # Normalizing flows: a variational bound, not an IS estimate; listed among static-MNIST
    # results by Tomczak & Welling 2018 (the paper itself does not name its binarization).
    Published("planar_mnist", "static-mnist", 85.10, None, "Rezende & Mohamed 2015, Table 2", "DLGM + NF (k = 80)",
              note="bounds for 10 / 20 / 40 planar steps: about 87.5 / 86.5 / 85.7"),
    # Ladder VAE: dynamic binarization, IS with 5,000 samples, before fine-tuning.
    Published("ladder_mnist", "dynamic-mnist", 82.12, 5000, "Sønderby et al. 2016, MNIST results",
              "LVAE, 5 layers, batch normalization and warm-up",
              note="81.74 after fine-tuning with k = 10 importance samples, which the preset does not do"),
)


def published(preset, protocol=None):
    """The published numbers of ``preset``'s model: all of them, or the one on ``protocol`` (or None)."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"Unknown protocol {protocol!r}. Valid protocols: {', '.join(sorted(PROTOCOLS))}.")
    matches = [entry for entry in PUBLISHED if entry.preset == preset
               and (protocol is None or entry.protocol == protocol)]
    if protocol is None:
        return matches
    return matches[0] if matches else None


def comparable(entry, protocol, k):
    """Whether a run on ``protocol`` scored with ``k`` importance samples (None: its −ELBO) may
    stand beside the published ``entry``: same data, same scored images, same estimator."""
    return entry.protocol == protocol and entry.k == k
