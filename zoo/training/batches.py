"""The epoch's batches as slices of one array: what ``fit`` feeds JAX and PyTorch from arrays.

Keras' array adapter gathers every batch by index, a copy per batch, and on PyTorch hands it
through a ``DataLoader`` (~0.6 ms a batch of 20 MNIST images by cProfile, a tenth of the VAE's
step there). ``ContiguousBatches`` applies the epoch's order once, at the start of the epoch, and each
batch is then a slice of that array, no copy: on PyTorch a slice of one tensor, and on JAX
consecutive batches are consecutive memory, which ``zoo.training.multistep`` hands to its scan
as one array instead of stacking copies. On PyTorch they reach Keras as a ``DataLoader`` that
it iterates as it is (``torch_loader``), which skips the rest of Keras' and the ``DataLoader``'s
per-batch work.
"""

import math

import keras
import numpy as np

#: Data larger than this keep Keras' own batching: the two permuted copies (``on_epoch_end``)
#: triple the data's memory.
MAX_BYTES = 2**30


def arrays(x):
    """Whether ``x`` is a numpy array or a tuple/list of them (what the zoo batches itself)."""
    leaves = keras.tree.flatten(x) if isinstance(x, (tuple, list)) else [x]
    return bool(leaves) and all(isinstance(leaf, np.ndarray) for leaf in leaves)


class ArrayBatches(keras.utils.PyDataset):
    """The base of the zoo's batchings of numpy data: ``x`` (an array or a tuple of arrays of
    one length) in batches of ``batch_size`` (the last holds the rest), in a fresh order each
    epoch if ``shuffle`` (numpy's global generator, which ``keras.utils.set_random_seed`` seeds)."""

    def __init__(self, x, batch_size, shuffle):
        super().__init__()
        self.x = x
        self.size = len(keras.tree.flatten(x)[0])
        if self.size == 0:
            raise ValueError(f"{type(self).__name__}: the data is empty.")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle

    def __len__(self):
        return math.ceil(self.size / self.batch_size)


class ContiguousBatches(ArrayBatches):
    """Batches each a view of the epoch's permuted copy of ``x``; items are ``(x_batch,)``.
    PyTorch's ``fit`` takes them through ``torch_loader``."""

    def __init__(self, x, batch_size, shuffle=True):
        super().__init__(x, batch_size, shuffle)
        self.epoch = None
        self._buffers = [None, None]  # the two epochs' permuted copies (on_epoch_end)
        self._turn = 1  # which of them holds the current epoch
        self._unread = False  # no batch read since the current epoch was written
        self.on_epoch_end()

    @staticmethod
    def applies(x):
        """Whether ``x`` is what this batches well: numpy arrays of one length, at most MAX_BYTES."""
        if not arrays(x):
            return False
        leaves = keras.tree.flatten(x) if isinstance(x, (tuple, list)) else [x]
        return len({len(leaf) for leaf in leaves}) == 1 and sum(leaf.nbytes for leaf in leaves) <= MAX_BYTES

    def __getitem__(self, index):
        self._unread = False
        start = index * self.batch_size
        return (keras.tree.map_structure(lambda a: a[start:start + self.batch_size], self.epoch),)

    def on_epoch_end(self):
        if self._unread:
            # Keras calls this twice at the end of an epoch whose last group of steps is short
            # (epoch_iterator's "ran out of data" path): a second permutation would be written
            # into the buffer of the epoch just run, which JAX may still be reading.
            return
        self._unread = True
        if self.shuffle:
            # Into one of two buffers kept across epochs, not a fresh array: a fresh 157 MB
            # array per MNIST epoch cost ~0.27 s of page faults inside fit (a fifth of a JAX or
            # PyTorch epoch at batch 128), the copy into warm memory ~0.03 s. Two, so that the
            # epoch being written never holds batches that JAX, which runs calls
            # asynchronously, may still read: the previous epoch's are in the other buffer.
            order = np.random.permutation(self.size)
            self._turn = 1 - self._turn
            if self._buffers[self._turn] is None:
                self._buffers[self._turn] = keras.tree.map_structure(
                    lambda a: np.empty(a.shape, a.dtype), self.x)
            epoch = keras.tree.map_structure(
                lambda a, out: np.take(a, order, axis=0, out=out, mode="clip"), self.x,
                self._buffers[self._turn])
        else:
            epoch = keras.tree.map_structure(np.ascontiguousarray, self.x)
        if keras.backend.backend() == "torch":
            import torch

            epoch = keras.tree.map_structure(torch.from_numpy, epoch)  # shares the memory
        self.epoch = epoch


def torch_loader(batches):
    """``batches`` (``ContiguousBatches``) as a ``torch.utils.data.DataLoader``, which Keras'
    PyTorch trainer iterates as it is: each batch comes straight from ``batches``, not through
    Keras' PyDataset adapter and a ``DataLoader``'s per-batch machinery (its ``__next__`` opens a
    profiler ``record_function`` and runs a fetcher: ~0.4 ms a batch, a tenth of the MLP VAE's
    step at batch 128 in 2026-12-04's profile). Each pass over it after the first starts a new
    epoch (``on_epoch_end``: the next order)."""
    import torch

    class ContiguousLoader(torch.utils.data.DataLoader):
        def __init__(self):
            # The examples' indices as the dataset: Keras reads len(dataset) and batch_size.
            super().__init__(range(batches.size), batch_size=batches.batch_size)
            self.batches = batches
            self.passes = 0

        def __len__(self):
            return len(self.batches)

        def __iter__(self):
            if self.passes:
                self.batches.on_epoch_end()
            self.passes += 1
            return (self.batches[index] for index in range(len(self.batches)))

    return ContiguousLoader()
