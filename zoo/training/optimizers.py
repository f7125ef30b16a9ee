"""Optimizers the papers' code used where Keras has no equivalent: Adam on gradients the paper's
code transformed first (normalized per tensor, or clipped twice)."""

import keras
from keras import ops


class TransformedGradientAdam(keras.optimizers.Adam):
    """Adam on ``transform(grads)``: applied where ``apply`` receives the gradients, so every
    backend's fit path (JAX's ``stateless_apply``, the PyTorch traced step) takes it, before
    Keras' own clipping and gradient accumulation."""

    def __init__(self, **kwargs):
        if kwargs.get("loss_scale_factor") is not None:
            raise ValueError(f"{type(self).__name__}: loss_scale_factor would be undone after the gradients are "
                             f"transformed; leave it out.")
        super().__init__(**kwargs)

    def transform(self, grads):
        raise NotImplementedError

    def apply(self, grads, trainable_variables=None):
        return super().apply(self.transform(grads), trainable_variables)


@keras.saving.register_keras_serializable(package="zoo")
class AdamNormGrad(TransformedGradientAdam):
    """Adam on per-tensor normalized gradients: each variable's gradient g becomes
    g / (‖g‖₂ + ``norm_epsilon``) (the VampPrior authors' ``AdamNormGrad``, Tomczak & Welling
    2018, with lr 5e-4 and ε 1e-8). Every tensor then moves at Adam's pace whatever its
    gradient's scale. All other arguments are ``keras.optimizers.Adam``'s.
    """

    def __init__(self, learning_rate=5e-4, epsilon=1e-8, norm_epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, epsilon=epsilon, **kwargs)
        if not norm_epsilon > 0:
            raise ValueError(f"AdamNormGrad: norm_epsilon must be > 0, got {norm_epsilon!r}.")
        self.norm_epsilon = float(norm_epsilon)

    def transform(self, grads):
        return [None if g is None else g / (ops.sqrt(ops.sum(ops.square(g))) + self.norm_epsilon) for g in grads]

    def get_config(self):
        return {**super().get_config(), "norm_epsilon": self.norm_epsilon}


@keras.saving.register_keras_serializable(package="zoo")
class AdamClipped(TransformedGradientAdam):
    """Adam on gradients clipped twice: all of them together to total L2 norm ≤ ``total_norm``,
    then each element into [−``element``, ``element``] (the Ladder VAE authors' code, Sønderby et
    al. 2016: 4 and 0.9, with Adam lr 2e-4 and ε 1e-4). Keras' own ``global_clipnorm`` and
    ``clipvalue`` take one of the two at a time. All other arguments are ``keras.optimizers.Adam``'s.
    """

    def __init__(self, learning_rate=2e-4, epsilon=1e-4, total_norm=4.0, element=0.9, **kwargs):
        super().__init__(learning_rate=learning_rate, epsilon=epsilon, **kwargs)
        for name, value in (("total_norm", total_norm), ("element", element)):
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"AdamClipped: {name} must be a number > 0, got {value!r}.")
        self.total_norm, self.element = float(total_norm), float(element)

    def transform(self, grads):
        present = [g for g in grads if g is not None]
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in present)) if present else 0.0
        scale = ops.minimum(1.0, self.total_norm / ops.maximum(norm, 1e-12))
        return [None if g is None else ops.clip(g * scale, -self.element, self.element) for g in grads]

    def get_config(self):
        return {**super().get_config(), "total_norm": self.total_norm, "element": self.element}
