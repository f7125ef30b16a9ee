"""zoo.training.batches: fit's batches from arrays on JAX and PyTorch, slices of one array per epoch."""

import warnings

import numpy as np
import pytest
import keras

import zoo
import zoo.training.multistep
from tests.helpers import to_numpy
from tests.zoo.common import digits
from zoo.training.batches import ContiguousBatches


def rows(batch):
    return to_numpy(batch[0]).reshape(len(to_numpy(batch[0])), -1)


@pytest.mark.parametrize("shuffle", [True, False])
def test_each_epoch_holds_every_example_once_in_slices_of_the_batch_size(shuffle):
    x = np.arange(23 * 2, dtype="float32").reshape(23, 2)
    batches = ContiguousBatches(x, 5, shuffle=shuffle)
    epochs = []
    for _ in range(2):
        seen = np.concatenate([rows(batches[i]) for i in range(len(batches))])
        assert len(batches) == 5 and [len(rows(batches[i])) for i in range(5)] == [5, 5, 5, 5, 3]
        assert sorted(seen[:, 0].tolist()) == x[:, 0].tolist()
        epochs.append(seen[:, 0].tolist())
        batches.on_epoch_end()
    assert (epochs[0] != epochs[1]) == shuffle
    assert (epochs[0] == x[:, 0].tolist()) == (not shuffle)


def test_epochs_alternate_between_two_kept_buffers_so_the_last_epochs_batches_stay_intact():
    # JAX may still be reading the previous epoch's batches while the next epoch is written.
    x = np.arange(40 * 3, dtype="float32").reshape(40, 3)
    batches = ContiguousBatches(x, 8, shuffle=True)

    def view(index):  # the batch's own memory (np.asarray of a torch tensor shares it)
        return np.asarray(batches[index][0])

    def address():
        return view(0).__array_interface__["data"][0]

    held = [view(i) for i in range(len(batches))]
    first, first_address = [h.copy() for h in held], address()
    assert all(np.shares_memory(h, np.asarray(batches.epoch)) for h in held)  # views, not copies
    batches.on_epoch_end()
    for kept, copied in zip(held, first):
        np.testing.assert_array_equal(kept, copied)  # not overwritten by the second epoch
    assert address() != first_address
    batches.on_epoch_end()  # the third epoch reuses the first one's buffer
    assert address() == first_address
    third = np.concatenate([view(i) for i in range(len(batches))])
    np.testing.assert_array_equal(np.sort(third[:, 0]), x[:, 0])
    np.testing.assert_array_equal(third[:, 1], third[:, 0] + 1)  # rows moved whole


def test_a_repeated_epoch_end_without_a_batch_read_in_between_changes_nothing():
    x = np.arange(40 * 3, dtype="float32").reshape(40, 3)
    batches = ContiguousBatches(x, 8, shuffle=True)
    first = np.asarray(batches[0][0]).copy()  # a batch read: the next call starts a new epoch
    batches.on_epoch_end()
    second = np.asarray(batches.epoch).copy()  # (the whole epoch, no batch read)
    batches.on_epoch_end()  # Keras' second call at a short last group: the epoch stays
    np.testing.assert_array_equal(np.asarray(batches.epoch), second)
    assert not np.array_equal(first, second[:8])


def test_a_conditional_models_images_and_labels_stay_together():
    images = np.arange(12, dtype="float32").reshape(6, 2)
    labels = np.arange(6) % 3
    batch = ContiguousBatches((images, labels), 4)[0]
    got_images, got_labels = (to_numpy(t) for t in batch[0])
    np.testing.assert_array_equal(got_labels, (got_images[:, 0] // 2) % 3)


def test_large_data_and_non_arrays_keep_keras_batching(monkeypatch):
    assert ContiguousBatches.applies(np.zeros((4, 2))) and ContiguousBatches.applies((np.zeros((4, 2)), np.zeros(4)))
    assert not ContiguousBatches.applies([1.0, 2.0]) and not ContiguousBatches.applies((np.zeros((4, 2)), np.zeros(3)))
    monkeypatch.setattr(zoo.training.batches, "MAX_BYTES", 31)
    assert not ContiguousBatches.applies(np.zeros((4, 2)))


def test_consecutive_slices_reach_the_scan_as_one_view_not_a_copy():
    epoch = np.arange(40, dtype="float32").reshape(10, 4)
    column = [epoch[i:i + 2] for i in (0, 2, 4)]
    view = zoo.training.multistep._consecutive(column)
    assert view is not None and np.shares_memory(view, epoch)
    np.testing.assert_array_equal(view, np.stack(column))
    assert zoo.training.multistep._consecutive([epoch[0:2], epoch[4:6]]) is None  # not one after the other
    assert zoo.training.multistep._consecutive([epoch[0:2], epoch[0:2].copy()]) is None


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="TensorFlow keeps Keras' tf.data batching")
def test_fit_through_contiguous_batches_trains_as_keras_batching_does(monkeypatch):
    # Unshuffled, both feed the same batches in the same order: the same weights.
    x = digits(70, binary=False)

    def trained(ours):
        monkeypatch.setattr(zoo.VAE, "_contiguous_batches_apply", staticmethod(lambda *args: ours))
        keras.utils.set_random_seed(2)
        model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,), likelihood="gaussian", data_levels=17)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
        history = model.fit(x, batch_size=16, epochs=2, shuffle=False, verbose=0).history
        return model, history

    (ours, ours_history), (keras_model, keras_history) = trained(True), trained(False)
    assert int(ours.optimizer.iterations) == int(keras_model.optimizer.iterations) == 2 * 5
    for a, b in zip(ours.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_history["loss"], keras_history["loss"], rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the DataLoader is PyTorch's fit path")
def test_pytorchs_loader_hands_over_the_slices_and_starts_a_new_epoch_at_each_pass(monkeypatch):
    import torch

    from zoo.training.batches import torch_loader

    x = np.arange(23 * 2, dtype="float32").reshape(23, 2)
    loader = torch_loader(ContiguousBatches(x, 5))
    assert isinstance(loader, torch.utils.data.DataLoader)
    assert len(loader) == 5 and loader.batch_size == 5 and len(loader.dataset) == 23  # what Keras reads
    epochs = [[rows(batch) for batch in loader] for _ in range(3)]
    for epoch in epochs:
        assert [len(batch) for batch in epoch] == [5, 5, 5, 5, 3]
        assert sorted(np.concatenate(epoch)[:, 0].tolist()) == x[:, 0].tolist()
    orders = [np.concatenate(epoch)[:, 0].tolist() for epoch in epochs]
    assert orders[0] != orders[1] != orders[2]
    # fit hands Keras the loader itself (no PyDataset adapter, no shuffle warning).
    seen = []
    fit = keras.Model.fit

    def spy(self, x=None, *args, **kwargs):
        seen.append(x)
        return fit(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    model = zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=2, hidden=(8,))
    model.compile(optimizer="adam")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(digits(40), batch_size=16, epochs=2, verbose=0)
    assert type(seen[0]).__name__ == "ContiguousLoader" and int(model.optimizer.iterations) == 2 * 3
