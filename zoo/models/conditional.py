"""The conditional VAE: class labels condition both q(z|x, y) and p(x|z, y) (Sohn et al. 2015)."""

import numpy as np
import keras
from keras import ops

from losses import DataError
from losses.base import check_integer
from zoo.models.mlp import MLPVAE


@keras.saving.register_keras_serializable(package="zoo")
class ConditionalVAE(MLPVAE):
    """An MLP VAE whose posterior and decoder also see a one-hot class label.

    Train with labels as Keras targets, ``model.fit(x, labels)``, or as a pair,
    ``model.fit((x, labels))``; predict with ``model.predict((x, labels))``; draw digits
    of given classes with ``model.sample(labels)``.

    Args:
        num_classes: number of classes; labels are integers in [0, num_classes).
        everything else: as in ``MLPVAE``.
    """

    def __init__(self, num_classes=10, **kwargs):
        self.num_classes = check_integer("num_classes", num_classes, "ConditionalVAE", minimum=2)
        self.condition_dim = self.num_classes
        super().__init__(**kwargs)

    def _split_inputs(self, x, y=None):
        if isinstance(x, (tuple, list)):
            x, y = x
        if y is None:
            raise DataError(
                f"{self.name}: a conditional VAE needs labels: model.fit(x, labels), "
                f"model.predict((x, labels)), model.sample(labels)."
            )
        labels = ops.cast(ops.reshape(y, (-1, 1)), "int32")
        # One-hot by comparison: PyTorch's one_hot reads the labels' range back from the
        # tensor, which a traced step (zoo/torch_graph.py) cannot do.
        return x, ops.cast(ops.equal(labels, ops.arange(self.num_classes, dtype="int32")), self.compute_dtype)

    def call(self, x, training=False):
        if training and not isinstance(x, (tuple, list)):
            return None  # labels came separately, as Keras targets: compute_loss uses them
        return super().call(x, training)

    def check_labels(self, x, labels):
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(x):
            raise DataError(f"{self.name}: need one integer label per example: got labels of shape "
                            f"{labels.shape} for {len(x)} examples.")
        if not np.issubdtype(labels.dtype, np.integer) and not np.all(labels == np.round(labels)):
            raise DataError(f"{self.name}: labels must be integers, got dtype {labels.dtype}.")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise DataError(f"{self.name}: labels must lie in [0, {self.num_classes}), got "
                            f"[{labels.min()}, {labels.max()}]; set num_classes.")

    def _as_pair(self, x, y, training=False):
        """Labels travel inside x, so Keras' own forward pass sees them too."""
        if isinstance(x, (tuple, list)) and len(x) == 2 and y is None:
            x, y = x
        if isinstance(x, np.ndarray):
            if y is None:
                self._split_inputs(x, None)  # raises the "needs labels" error
            self.check_data(x, training)
            self.check_labels(x, y)
            return (x, np.asarray(y)), None
        return x, y

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        x, y = self._as_pair(x, y, training=True)
        if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            validation_data = (self._as_pair(*validation_data)[0],)
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self._as_pair(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def sample(self, labels, seed=None, mean=True):
        """One decoded z ~ N(0, I) per label: shape (len(labels), *input_shape)."""
        labels = np.asarray(labels)
        self.check_labels(np.empty(len(labels)), labels)
        return self._sample_prior(len(labels), self._split_inputs(None, labels)[1], seed, mean)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
