"""``jit_compile=True`` that pays off on PyTorch: each training or evaluation step as one graph.

Keras' PyTorch trainer compiles ``train_step`` / ``test_step`` with ``torch.compile`` as they
stand: dynamo traces Keras' Python (layer calls, trackers, ``zero_grad``, the optimizer) and
guards on what it read, ~4,000 guards checked at every call, and ``loss.backward()`` splits
the step in two. On the MLP VAE that ran at 0.72 of a compiled hand-written loop
(bench/README.md). Here the step is written statelessly, as Keras' JAX trainer writes it
(variable values in, new values out: forward pass, ``torch.autograd.grad``, the optimizer's
``stateless_apply``, the metrics), traced once by ``make_fx`` into one graph of aten ops, and
that graph goes through ``torch.compile``, whose guards then see tensors only.

As under ``jax.jit`` and ``tf.function``, Python values the step reads (β, k, the KL warm-up
length, ...) are fixed when it is traced; ``compile()`` makes new step functions. Random
draws in the step come from torch's default generator (``losses.base.random_normal``;
``keras.utils.set_random_seed`` seeds it). Only the first batch signature (structure, shapes,
dtypes) is traced: another one (the epoch's last, smaller batch) goes through Keras' eager
step rather than a second compilation. Nothing changes unless the backend is PyTorch,
``jit_compile`` is True and there is no ``keras.distribution``; a step that cannot be traced
(Python that reads a tensor's value, a ``keras.random`` draw inside it) falls back, with a
warning, to Keras' own compiled function.
"""

import warnings

import keras

from losses.base import torch_graph_draws


def _applies(model):
    return (keras.backend.backend() == "torch" and model.jit_compile is True and not model.run_eagerly
            and getattr(model, "optimizer", None) is not None and keras.distribution.distribution() is None)


def _signature(batch):
    """(structure, shapes and dtypes) of a batch of dense tensors; None for anything else."""
    import torch

    leaves = keras.tree.flatten(batch)
    if not leaves or not all(isinstance(leaf, torch.Tensor) and leaf.layout == torch.strided for leaf in leaves):
        return None
    return keras.tree.map_structure(lambda _: 0, batch), [(tuple(leaf.shape), leaf.dtype) for leaf in leaves]


def _variables(model, training):
    groups = [model.trainable_variables, model.non_trainable_variables]
    return groups + ([model.optimizer.variables] if training else []) + [model.metrics_variables]


def _loss_and_updates(model, trainable, non_trainable, metrics_values, data, training):
    """Forward pass and loss, as Keras' JAX trainer's ``compute_loss_and_updates``."""
    x, y, sample_weight = data
    kwargs = {"training": training} if model._call_has_training_arg else {}
    y_pred, non_trainable, forward_losses = model.stateless_call(
        trainable, non_trainable, x, return_losses=True, **kwargs)
    if forward_losses:  # add_loss() terms reach compute_loss, as in Keras' JAX trainer
        model._losses_override.clear()
        model._losses_override = forward_losses
    loss, (_, non_trainable, metrics_values) = model.stateless_compute_loss(
        trainable, non_trainable, metrics_values, x=x, y=y, y_pred=y_pred,
        sample_weight=sample_weight, training=training)
    if forward_losses:
        model._losses_override.clear()
    return loss, y_pred, non_trainable, metrics_values


def _logs_and_metrics(model, metrics_values, loss, data, y_pred):
    """The loss tracker and ``compute_metrics``, as Keras' steps run them, statelessly."""
    import torch

    x, y, sample_weight = data
    y_pred = keras.tree.map_structure(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, y_pred)
    metrics_variables = model.metrics_variables
    with keras.StatelessScope(state_mapping=list(zip(metrics_variables, metrics_values))) as scope:
        model._loss_tracker.update_state(
            loss.detach(), sample_weight=next(t for t in keras.tree.flatten(x) if t is not None).shape[0])
        logs = model.compute_metrics(x, y, y_pred, sample_weight)
    metrics_values = [value if (new := scope.get_current_value(variable)) is None else new
                      for variable, value in zip(metrics_variables, metrics_values)]
    return logs, metrics_values


def stateless_train_step(model, state, batch):
    """Keras' PyTorch ``train_step`` without side effects: ``state`` is the values of the
    (trainable, non-trainable, optimizer, metrics) variables; returns (logs, new state)."""
    import torch

    trainable, non_trainable, optimizer_values, metrics_values = state
    data = keras.utils.unpack_x_y_sample_weight(batch)
    trainable = [value.detach().requires_grad_(True) for value in trainable]
    with torch.enable_grad():
        loss, y_pred, non_trainable, metrics_values = _loss_and_updates(
            model, trainable, non_trainable, metrics_values, data, training=True)
        mapping = list(zip(model.optimizer.variables, optimizer_values))
        with keras.StatelessScope(state_mapping=mapping):
            scaled_loss = model.optimizer.scale_loss(loss)
    grads = torch.autograd.grad(scaled_loss, trainable, allow_unused=True)
    grads = [torch.zeros_like(value) if grad is None else grad for grad, value in zip(grads, trainable)]
    trainable, optimizer_values = model.optimizer.stateless_apply(
        optimizer_values, grads, [value.detach() for value in trainable])
    logs, metrics_values = _logs_and_metrics(model, metrics_values, loss, data, y_pred)
    return logs, (trainable, non_trainable, optimizer_values, metrics_values)


def stateless_test_step(model, state, batch):
    """Keras' PyTorch ``test_step`` without side effects; ``state``: (trainable,
    non-trainable, metrics) variables' values; returns (logs, new state)."""
    trainable, non_trainable, metrics_values = state
    data = keras.utils.unpack_x_y_sample_weight(batch)
    loss, y_pred, non_trainable, metrics_values = _loss_and_updates(
        model, trainable, non_trainable, metrics_values, data, training=False)
    logs, metrics_values = _logs_and_metrics(model, metrics_values, loss, data, y_pred)
    return logs, (trainable, non_trainable, metrics_values)


def compiled_train_function(model, keras_function, compiler=None):
    """``keras_function`` (Keras' PyTorch ``train_function``: ``data -> logs``, ``data`` a
    one-batch list) replaced by the traced, compiled step where it applies (module docstring).
    ``compiler``: what compiles the traced graph (default ``torch.compile``)."""
    return _compiled(model, keras_function, training=True, compiler=compiler)


def compiled_test_function(model, keras_function, compiler=None):
    """As ``compiled_train_function``, for ``test_function`` (``evaluate``, validation)."""
    return _compiled(model, keras_function, training=False, compiler=compiler)


def _compiled(model, keras_function, training, compiler):
    if not _applies(model):
        return keras_function
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    stateless_step = stateless_train_step if training else stateless_test_step
    eager_step = model.train_step if training else torch.no_grad()(model.test_step)
    compiler = compiler or torch.compile
    traced = {}  # signature, compiled graph and variables of the first batch

    def storage(groups):
        # Keras assigns a PyTorch variable in place, so its tensor is read once, not per step
        # (``Variable.value`` costs ~3 µs, ~0.3 ms a step over the VAE's 44 variables). The
        # stored tensor itself: ``value`` could hand back an autocast copy, which writes miss.
        return [[variable.value if getattr(variable, "_value", None) is None else variable._value
                 for variable in group] for group in groups]

    def values():
        tensors = traced["tensors"]
        # (A Keras without ``_value`` re-reads every step: slower, still right.)
        if any(getattr(variable, "_value", None) is not tensor
               for group, group_tensors in zip(traced["groups"], tensors)
               for variable, tensor in zip(group, group_tensors)):
            tensors = traced["tensors"] = storage(traced["groups"])
        return [[tensor.detach() for tensor in group] for group in tensors]

    def write(state):
        with torch.no_grad():
            for group, new_values in zip(traced["tensors"], state):
                for tensor, value in zip(group, new_values):
                    tensor.copy_(value)

    def trace(batch):
        try:
            # make_fx runs the step once: on copies of the variables (Keras' PyTorch optimizers
            # update in place even in stateless_apply), and without moving torch's generator, or
            # a seeded run would start its compiled steps one step's draws later.
            state = [[tensor.clone() for tensor in group] for group in values()]
            with torch_graph_draws(), torch.random.fork_rng():
                graph = make_fx(lambda state, batch: stateless_step(model, state, batch))(state, batch)
        except Exception as error:  # noqa: BLE001 - any untraceable step runs as Keras runs it
            message = str(error).splitlines()[0] if str(error) else ""
            warnings.warn(f"{model.name}: the {'training' if training else 'evaluation'} step could not "
                          f"be traced into one graph ({type(error).__name__}: {message}); it runs through "
                          f"Keras' torch.compile instead (slower).", stacklevel=4)
            return None
        return compiler(graph)

    def function(data):
        batch = data[0]
        signature = _signature(batch)
        if "signature" not in traced:
            traced["signature"] = signature
            traced["groups"] = _variables(model, training)
            traced["tensors"] = storage(traced["groups"])
            traced["graph"] = trace(batch) if signature is not None else None
        if traced["graph"] is None:
            return keras_function(data)
        if signature != traced["signature"]:
            return eager_step(batch)
        logs, state = traced["graph"](values(), batch)
        write(state)
        return logs

    return function
