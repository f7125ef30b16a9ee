"""The private attributes of Keras the zoo touches, named in one place.

Each serves speed or a fix for which Keras has no public hook. A Keras release may rename one
without notice: tests/zoo/training/test_keras_internals.py checks every entry of ``USED`` on the
installed Keras and fails naming the attribute and what depends on it. The code reads them
through the helpers below (or the names, for attributes it overrides), never spelled elsewhere.
"""

#: attribute → (the object it lives on, who uses it and why)
USED = {
    "_call_has_training_arg": ("keras.Layer", "torch_graph: call the model as Keras' trainers do, "
                                              "with training= only if call takes it"),
    "_losses_override": ("keras.Layer", "torch_graph: hand add_loss() terms of a stateless call to "
                                        "compute_loss, as Keras' JAX trainer does"),
    "_loss_tracker": ("keras.Model", "torch_graph: the traced step updates Keras' loss metric statelessly"),
    "_value": ("keras.Variable (PyTorch)", "torch_graph: read a variable's tensor once, not per step "
                                           "(optional: without it the traced step re-reads, slower)"),
    "_jax_state": ("keras.Model (JAX)", "fitting: stored as a plain attribute, skipping Layer.__setattr__'s "
                                        "tracking walk every step (~8% of a small step)"),
    "_load_model": ("keras.callbacks.BackupAndRestore", "saving.BackupAndRestore: report a cut "
                                                        "training_metadata.json as the damage it is"),
    "_training_metadata_path": ("keras.callbacks.BackupAndRestore", "saving.BackupAndRestore: name that file"),
}


def call_has_training_arg(model):
    return model._call_has_training_arg


def set_forward_losses(model, forward_losses):
    """Hand ``forward_losses`` (a list; [] to clear) to the model's next ``compute_loss``."""
    model._losses_override.clear()
    if forward_losses:
        model._losses_override = forward_losses


def loss_tracker(model):
    return model._loss_tracker


def variable_storage(variable):
    """The tensor a (PyTorch) Keras variable holds, or None where Keras keeps none apart."""
    return getattr(variable, "_value", None)


def training_metadata_path(callback):
    return callback._training_metadata_path
