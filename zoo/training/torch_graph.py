"""PyTorch steps at hand-written speed: each training, evaluation or prediction step as one
traced graph.

Keras' PyTorch trainer compiles ``train_step`` / ``test_step`` with ``torch.compile`` as they
stand: dynamo traces Keras' Python (layer calls, trackers, ``zero_grad``, the optimizer) and
guards on what it read, ~4,000 guards checked at every call, and ``loss.backward()`` splits
the step in two. On the MLP VAE that ran at 0.72 of a compiled hand-written loop
(bench/README.md). Here the step is written statelessly, as Keras' JAX trainer writes it
(variable values in, new values out: forward pass, ``torch.autograd.grad``, the optimizer's
``stateless_apply``, the metrics), traced once by ``make_fx`` into one graph of aten ops, and
that graph goes through ``torch.compile``, whose guards then see tensors only.

At ``compile()``'s default (``jit_compile="auto"``) the same traced graph runs as it is, without
``torch.compile``: it calls the aten ops directly, without Keras' per-op Python (tensor
conversion, variable wrappers, the optimizer's loops), which is what made Keras' eager step
half as fast as a hand-written eager loop, and it needs no C++ compiler. The graph, without what
the step computed and discarded (``_drop_dead_code``), is recorded by ``torch.jit.trace`` and
runs in TorchScript's interpreter, op after op from C++ (``ScriptedStep``); where recording
fails, as one plain Python function that calls each op's C++ entry point (``_as_function``). Tracing costs about as
much as a few dozen eager steps, so a run traces only after ``TRACE_AFTER_STEPS`` eager calls of
the step: short runs (tests, a quick ``evaluate``) never pay for it. ``jit_compile=False`` keeps
Keras' eager step throughout.

As under ``jax.jit`` and ``tf.function``, Python values the step reads (β, k, the KL warm-up
length, ...) are fixed when it is traced; ``compile()`` makes new step functions. Random
draws in the step come from torch's default generator (``losses.base.random_normal``;
``keras.utils.set_random_seed`` seeds it). Only the first batch signature (structure, shapes,
dtypes) is traced: another one (the epoch's last, smaller batch) goes through Keras' eager
step rather than a second compilation. Prediction (``predict``, and the thousands of small
steps of ``zoo.log_likelihood`` and the other evaluation functions) is traced the same way:
Keras' eager per-op Python was ~8-12% of an importance-sampling step (bench/README.md). Nothing changes unless
the backend is PyTorch, ``jit_compile`` is True or "auto", the model is not ``run_eagerly``
and there is no ``keras.distribution``; a step that cannot be traced (Python that reads a tensor's value, a
``keras.random`` draw inside it) falls back, with a one-line warning, to Keras' own step
function (compiled or eager, as ``jit_compile`` asked).
"""

import warnings

import keras

from losses.base import torch_graph_draws
from zoo.training import keras_internals


#: Eager calls of a step before the default ("auto") path traces it. Tracing the MLP VAE's
#: training step took ~0.3 s, ~25 eager steps at batch 128 (then 5.1 against 12.8 ms a step);
#: a run that gets past this many calls is long enough to pay for it, and short runs (tests,
#: a quick evaluate) never trace.
TRACE_AFTER_STEPS = 50


def _mode(model, kind):
    """"compile" (``jit_compile=True``: the graph through ``torch.compile``), "trace" (the
    default, "auto": the graph as traced) or None (Keras' own step function). ``predict``
    needs no optimizer: a model that was never compiled traces if it says so
    (``_default_jit_compile``, as the evaluation functions of ``zoo.evaluation`` do)."""
    if (keras.backend.backend() != "torch" or model.run_eagerly
            or (kind != "predict" and getattr(model, "optimizer", None) is None)
            or keras.distribution.distribution() is not None):
        return None
    if model.jit_compile is True:
        return "compile"
    return "trace" if getattr(model, "_default_jit_compile", False) else None


def _signature(batch):
    """(structure, shapes and dtypes) of a batch of dense tensors; None for anything else."""
    import torch

    leaves = keras.tree.flatten(batch)
    if not leaves or not all(isinstance(leaf, torch.Tensor) and leaf.layout == torch.strided for leaf in leaves):
        return None
    return keras.tree.map_structure(lambda _: 0, batch), [(tuple(leaf.shape), leaf.dtype) for leaf in leaves]


def _variables(model, kind):
    groups = [model.trainable_variables, model.non_trainable_variables]
    if kind == "predict":
        return groups
    return groups + ([model.optimizer.variables] if kind == "train" else []) + [model.metrics_variables]


def _loss_and_updates(model, trainable, non_trainable, metrics_values, data, training):
    """Forward pass and loss, as Keras' JAX trainer's ``compute_loss_and_updates``."""
    x, y, sample_weight = data
    kwargs = {"training": training} if keras_internals.call_has_training_arg(model) else {}
    y_pred, non_trainable, forward_losses = model.stateless_call(
        trainable, non_trainable, x, return_losses=True, **kwargs)
    if forward_losses:  # add_loss() terms reach compute_loss, as in Keras' JAX trainer
        keras_internals.set_forward_losses(model, forward_losses)
    loss, (_, non_trainable, metrics_values) = model.stateless_compute_loss(
        trainable, non_trainable, metrics_values, x=x, y=y, y_pred=y_pred,
        sample_weight=sample_weight, training=training)
    if forward_losses:
        keras_internals.set_forward_losses(model, [])
    return loss, y_pred, non_trainable, metrics_values


def _logs_and_metrics(model, metrics_values, loss, data, y_pred):
    """The loss tracker and ``compute_metrics``, as Keras' steps run them, statelessly."""
    import torch

    x, y, sample_weight = data
    y_pred = keras.tree.map_structure(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, y_pred)
    metrics_variables = model.metrics_variables
    with keras.StatelessScope(state_mapping=list(zip(metrics_variables, metrics_values))) as scope:
        keras_internals.loss_tracker(model).update_state(
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


def stateless_predict_step(model, state, batch):
    """Keras' PyTorch ``predict_step`` without side effects; ``state``: (trainable,
    non-trainable) variables' values; returns (outputs, new state)."""
    trainable, non_trainable = state
    x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
    kwargs = {"training": False} if keras_internals.call_has_training_arg(model) else {}
    y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, **kwargs)
    return y_pred, (trainable, non_trainable)


def compiled_train_function(model, keras_function, compiler=None):
    """``keras_function`` (Keras' PyTorch ``train_function``: ``data -> logs``, ``data`` a
    one-batch list) replaced by the traced step where it applies (module docstring).
    ``compiler``: what compiles the traced graph (default: ``torch.compile`` with
    ``jit_compile=True``, none at the default)."""
    return _compiled(model, keras_function, "train", compiler)


def compiled_test_function(model, keras_function, compiler=None):
    """As ``compiled_train_function``, for ``test_function`` (``evaluate``, validation)."""
    return _compiled(model, keras_function, "test", compiler)


def compiled_predict_function(model, keras_function, compiler=None):
    """As ``compiled_train_function``, for ``predict_function`` (``data -> outputs``): what
    ``zoo.log_likelihood`` and the other evaluation functions run, thousands of small steps,
    each paying Keras' Python per op (its conversions, its variable wrappers) when eager."""
    return _compiled(model, keras_function, "predict", compiler)


def _compiled(model, keras_function, kind, compiler):
    mode = _mode(model, kind)
    if mode is None:
        return keras_function
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    stateless_step = {"train": stateless_train_step, "test": stateless_test_step,
                      "predict": stateless_predict_step}[kind]
    eager_step = {"train": model.train_step, "test": torch.no_grad()(model.test_step),
                  "predict": torch.no_grad()(model.predict_step)}[kind]
    compiler = compiler or (torch.compile if mode == "compile" else _as_traced)
    # At the default, Keras' eager steps first: a short run never pays for the trace.
    eager_calls_left = [0 if mode == "compile" else TRACE_AFTER_STEPS]
    traced = {}  # signature, compiled graph and variables of the first traced batch

    def storage(groups):
        # Keras assigns a PyTorch variable in place, so its tensor is read once, not per step
        # (``Variable.value`` costs ~3 µs, ~0.3 ms a step over the VAE's 44 variables). The
        # stored tensor itself: ``value`` could hand back an autocast copy, which writes miss.
        return [variable.value if keras_internals.variable_storage(variable) is None
                else keras_internals.variable_storage(variable) for group in groups for variable in group]

    def values():
        tensors = traced["tensors"]
        # (A Keras without ``_value`` re-reads every step: slower, still right.)
        if any(keras_internals.variable_storage(variable) is not tensor
               for variable, tensor in zip(traced["variables"], tensors)):
            tensors = traced["tensors"] = storage(traced["groups"])
        return tensors

    def write(new_values):
        for tensor, value in zip(traced["tensors"], new_values):
            if value is not tensor:
                tensor.copy_(value)

    def trace(batch_leaves, batch_structure):
        import torch.utils._pytree as pytree

        sizes = [len(group) for group in traced["groups"]]
        logs_spec = []

        def flat_step(*leaves):
            # Flat tensors in and out: the graph then runs without pytree bookkeeping per call.
            state, start = [], 0
            for size in sizes:
                state.append(list(leaves[start:start + size]))
                start += size
            batch = keras.tree.pack_sequence_as(batch_structure, list(leaves[start:]))
            logs, new_state = stateless_step(model, state, batch)
            log_leaves, spec = pytree.tree_flatten(logs)
            logs_spec.append((spec, len(log_leaves)))
            return [*log_leaves, *(value for group in new_state for value in group)]

        try:
            # make_fx runs the step once: on copies of the variables (Keras' PyTorch optimizers
            # update in place even in stateless_apply), and without moving torch's generator, or
            # a seeded run would start its compiled steps one step's draws later.
            copies = [tensor.detach().clone() for tensor in values()]
            with torch_graph_draws(), torch.random.fork_rng():
                graph = make_fx(flat_step)(*copies, *batch_leaves)
        except Exception as error:  # noqa: BLE001 - any untraceable step runs as Keras runs it
            message = str(error).splitlines()[0] if str(error) else ""
            instead = "Keras' torch.compile" if mode == "compile" else "Keras' eager step"
            step_name = {"train": "training", "test": "evaluation", "predict": "prediction"}[kind]
            warnings.warn(f"{model.name}: the {step_name} step could not "
                          f"be traced into one graph ({type(error).__name__}: {message}); it runs as "
                          f"{instead} instead (slower).", stacklevel=4)
            return None
        traced["logs_spec"] = logs_spec[-1]
        return compiler(_without_detach(graph))

    def function(data):
        if eager_calls_left[0]:
            eager_calls_left[0] -= 1
            return keras_function(data)
        batch = data[0]
        signature = _signature(batch)
        if "signature" not in traced:
            traced["signature"] = signature
            traced["groups"] = _variables(model, kind)
            traced["variables"] = [variable for group in traced["groups"] for variable in group]
            traced["tensors"] = storage(traced["groups"])
            traced["graph"] = trace(keras.tree.flatten(batch), batch) if signature is not None else None
        if traced["graph"] is None:
            return keras_function(data)
        if signature != traced["signature"]:
            return eager_step(batch)
        # No autograd around the graph: its backward pass is in it, as ops.
        with torch.no_grad():
            outputs = traced["graph"](*values(), *keras.tree.flatten(batch))
            spec, num_logs = traced["logs_spec"]
            write(outputs[num_logs:])
        return torch.utils._pytree.tree_unflatten(list(outputs[:num_logs]), spec)

    function.traced = traced  # what was traced, and how it runs (tests, benchmarks)
    return function


def _without_detach(graph):
    """``graph`` without its ``detach`` ops: it runs under ``no_grad``, where they are no-ops
    that still cost a dispatch each (41 of the MLP VAE's 293 ops)."""
    import torch

    for node in list(graph.graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten.detach.default:
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    graph.recompile()
    return graph


def _as_traced(graph):
    """The default's "compiler": the traced graph, its dead code dropped, run op by op from
    C++ as TorchScript (``ScriptedStep``), else from Python as one plain function
    (``_as_function``) when its code allows, else as the ``GraphModule`` it is."""
    _drop_dead_code(graph)
    return ScriptedStep(graph, _as_function(graph) or graph)


class ScriptedStep:
    """``graph`` recorded by ``torch.jit.trace`` at its first call and run by TorchScript's
    interpreter, which dispatches each aten op from C++: ~0.35 ms less per step (2.0 against
    2.4 ms) than calling the ~240 ops from Python, which at batch 20 took the MLP VAE's ``fit`` from 0.81 to 0.95 of
    the hand-written eager loop (bench/README.md). TorchScript's optimizing executor is off for
    the call: its profiling runs and fusion passes made that step 1.4× slower, not faster.

    No ``torch.compile`` and no C++ compiler: the recorded ops are the graph's own, so the
    numbers are the same. If recording fails (TorchScript is in maintenance in PyTorch 2.x and
    may not take every op: the convolutional VAE's training step, whose ``convolution_backward``
    its tracer rejects), ``fallback`` runs instead, with the same numbers, a little slower.
    ``runs_as``: "torchscript", "fallback", or None before the first call.
    """

    def __init__(self, graph, fallback):
        self.graph = graph
        self.fallback = fallback
        self.runs_as = None
        self._call = None

    def __call__(self, *args):
        if self._call is None:
            self._call = self._record(args)
        return self._call(*args)

    def _record(self, args):
        import torch

        try:
            # Recording runs the graph once: on copies (it may write its inputs in place), and
            # without moving torch's generator (a seeded run draws what an unrecorded one would).
            copies = [arg.clone() if isinstance(arg, torch.Tensor) else arg for arg in args]
            with warnings.catch_warnings(), torch.random.fork_rng():
                warnings.simplefilter("ignore")  # TracerWarnings about its own constants
                scripted = torch.jit.trace(self.graph, tuple(copies), check_trace=False)
        except Exception:  # noqa: BLE001 - the fallback computes the same numbers
            self.runs_as = "fallback"
            return self.fallback
        self.runs_as = "torchscript"

        def call(*args):
            with torch.jit.optimized_execution(False):
                return scripted(*args)
        return call


def _drop_dead_code(graph):
    """Drop what the step computed and threw away (Keras' metrics compute results no one
    reads, ~7 ops a step), and use constants as they are where the trace copies them
    (``lift_fresh_copy``) for ops that only read them."""
    import torch

    for node in list(graph.graph.nodes):
        if (node.op == "call_function" and node.target is torch.ops.aten.lift_fresh_copy.default
                and all(_reads_only(user) for user in node.users)):
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    graph.graph.eliminate_dead_code()  # keeps in-place ops and random draws (fx's is_impure)
    graph.recompile()


def _reads_only(node):
    """Whether ``node`` is an aten op that writes none of its arguments."""
    import torch

    return (node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload)
            and not node.target._schema.is_mutable)


def _as_function(graph):
    """``graph``'s generated code as one plain function that calls each aten op's C++ entry
    point (``OpOverload._op``) rather than through ``OpOverload.__call__``, with the graph's
    constants bound as globals: no ``nn.Module`` call, one Python frame fewer per op
    (~190 ops a step for the MLP VAE). None when the code uses anything else of the module."""
    import re

    import torch

    namespace = dict(graph.forward.__globals__)

    def entry_point(match):
        overload = getattr(getattr(getattr(torch.ops, match[1]), match[2]), match[3], None)
        if not (isinstance(overload, torch._ops.OpOverload) and callable(getattr(overload, "_op", None))):
            return match[0]  # called as written
        name = f"_op_{match[1]}_{match[2]}_{match[3]}"
        namespace[name] = overload._op
        return name + "("

    def constant(match):
        namespace[f"_const_{match[1]}"] = getattr(graph, match[1])
        return f"_const_{match[1]}"

    source = re.sub(r"\btorch\.ops\.(\w+)\.(\w+)\.(\w+)\(", entry_point, graph.code)
    source = re.sub(r"\bself\.(_tensor_constant\d+)\b", constant, source)
    body = source[source.index("\n", source.index("def forward")):]
    if re.search(r"\bself\b", body):  # a submodule or attribute still read
        return None
    exec(compile(source, f"<traced {graph.__class__.__name__}>", "exec"), namespace)  # noqa: S102
    forward = namespace["forward"]
    return lambda *args: forward(None, *args)
