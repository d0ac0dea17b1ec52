"""Plain NumPy implementations of one NNE generation — the *baselines* the benchmark compares to.

Both compute the same math as :func:`nne_jax.generation.generation_step` with the paper's
defaults (i.i.d. genotypes, identity gene map, no k-cap, δ fitness, equation 3) in a Python loop
over genotypes, and both are checked equal to every JAX path in ``tests/test_benchmarks.py``.

* :class:`NumpyNNE` — the *optimised* baseline: ``W x`` as a CSR row reduction (``np.bincount``
  over the ≈ β·m·n nonzeros), the first layer scattered into a dense masked ``(d, h)`` matrix.
  About 4 s per generation at the paper's shape (N = n = h = 1000, B = 50) on 2 CPU cores.
* :class:`NaiveNumpyNNE` — the *naive* baseline: the straightforward NumPy a user would write
  first (the kind of loop the issue timed at 43–58 s per generation): ``W`` kept as a dense
  ``(m, n)`` float32 matrix of the real links, ``w = W @ x`` as a dense matvec, then dense masked
  ``W1 (d, h)``, ``W2 (h, C)`` and a dense forward pass. Memory: ``4·m·n`` bytes for ``W``
  (m ≈ 88 000 links at d = 784, h = 1000, density 0.1: ≈ 350 MB at n = 1000, 700 MB at n = 2000).
"""

from __future__ import annotations

import numpy as np


def _delta(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """The paper's δ of one network: mean over the batch of ``max(0, ln(C)² − CE²)``."""
    z = logits - logits.max(axis=1, keepdims=True)
    loss = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]
    return float(np.mean(np.maximum(0.0, np.log(num_classes) ** 2 - loss**2)))


class NumpyNNE:
    """Optimised baseline: host copies of ``W`` (CSR), the input mask and the slot layout of a task."""

    def __init__(self, task) -> None:
        arch = task.arch
        self.data = np.asarray(task.wg.data, np.float32)
        self.indices = np.asarray(task.wg.indices)
        self.indptr = np.asarray(task.wg.indptr)
        self.num_rows = task.wg.num_rows
        self.in_idx = np.asarray(arch.in_idx)
        self.h, self.k, self.c, self.d = arch.num_hidden, arch.slots_per_unit, arch.num_classes, arch.num_inputs
        self.row_of = np.repeat(np.arange(self.num_rows), np.diff(self.indptr))

    def weights(self, genotype: np.ndarray) -> np.ndarray:
        """``W x`` for one genotype ``(n,)`` → slot weights ``(S,)``."""
        return np.bincount(self.row_of, weights=self.data * genotype[self.indices], minlength=self.num_rows).astype(np.float32)

    def logits(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """One network's logits ``(B, C)`` via its dense masked weight matrices."""
        w = weights.reshape(self.h, self.k + self.c)
        w1 = np.zeros((self.d + 1, self.h), np.float32)
        np.add.at(w1, (self.in_idx, np.arange(self.h)[:, None]), w[:, : self.k])
        hidden = np.maximum(inputs @ w1[: self.d], 0.0)
        return hidden @ w[:, self.k :]

    def fitness(self, genotypes: np.ndarray, inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The paper's δ for every genotype ``(N, n)`` → ``(N,)``."""
        out = np.empty(len(genotypes), np.float32)
        for g, x in enumerate(genotypes):
            out[g] = _delta(self.logits(self.weights(x), inputs), labels, self.c)
        return out

    def generation(
        self, rng: np.random.Generator, p: np.ndarray, pop_size: int, eps: float, inputs: np.ndarray, labels: np.ndarray
    ) -> np.ndarray:
        """Sample → weights → forward → δ → allele rewards → equation (3). Returns the new ``p``."""
        genotypes = (rng.random((pop_size, p.size)) < p).astype(np.float32)
        return self.update(p, genotypes, self.fitness(genotypes, inputs, labels), eps)

    @staticmethod
    def update(p: np.ndarray, genotypes: np.ndarray, fitness: np.ndarray, eps: float) -> np.ndarray:
        """Allele rewards and equation (3): ``(n,), (N, n), (N,) -> (n,)`` new allele frequencies."""
        ones = genotypes.sum(0)
        zeros = len(genotypes) - ones
        f = np.where(ones > 0, fitness @ genotypes / np.maximum(ones, 1), 0.0)
        fb = np.where(zeros > 0, fitness @ (1 - genotypes) / np.maximum(zeros, 1), 0.0)
        mean = fitness.mean()  # an absent allele's reward is the population mean: no update
        f, fb = np.where(ones > 0, f, mean), np.where(zeros > 0, fb, mean)
        a = p * np.maximum(1 + eps * f, 0)
        b = (1 - p) * np.maximum(1 + eps * fb, 0)
        return np.where(a + b > 0, a / np.where(a + b > 0, a + b, 1), p)


class NaiveNumpyNNE:
    """Naive baseline: dense ``W`` ``(m, n)`` over the real links, dense input mask, dense layers.

    Links are numbered the way one would write it by hand: first the input→hidden links in the
    order of ``mask.nonzero()`` over the dense ``(d, h)`` input mask, then the ``h·C``
    hidden→output links in ``(h, C)`` order. Row ``i`` of the dense ``W`` is the task's CSR ``W``
    row of link ``i`` (so the numbers are the task's, only laid out densely). Per genotype:
    ``w = W @ x``; ``W1 = zeros((d, h)); W1[mask] = w[:m1]``; ``W2 = w[m1:].reshape(h, C)``;
    ``logits = relu(inputs @ W1) @ W2``; δ. Holds ``4·m·n`` bytes for ``W``.
    """

    def __init__(self, task) -> None:
        arch, wg = task.arch, task.wg
        self.d, self.h, self.c = arch.num_inputs, arch.num_hidden, arch.num_classes
        k = arch.slots_per_unit
        self.mask = arch.input_mask()  # (d, h) bool
        # slot of each link, in the order above: input link (i, j) lives in unit j's slot whose in_idx is i
        in_idx = np.asarray(arch.in_idx)
        slot_of_input = np.full((self.d + 1, self.h), -1, np.int64)
        units = np.broadcast_to(np.arange(self.h)[:, None], in_idx.shape)
        slot_of_input[in_idx, units] = units * (k + self.c) + np.arange(k)
        first = slot_of_input[: self.d][self.mask]
        second = (np.arange(self.h)[:, None] * (k + self.c) + k + np.arange(self.c)).ravel()
        link_slots = np.concatenate([first, second])
        self.m1 = first.size
        # dense W: (m, n) float32, row i = CSR row link_slots[i]
        data, indices, indptr = np.asarray(wg.data, np.float32), np.asarray(wg.indices), np.asarray(wg.indptr)
        row_of = np.repeat(np.arange(wg.num_rows), np.diff(indptr))
        link_of_slot = np.full(wg.num_rows, -1, np.int64)
        link_of_slot[link_slots] = np.arange(link_slots.size)
        if np.any(link_of_slot[row_of] < 0):
            raise ValueError("W has nonzeros in a padding slot")
        self.W = np.zeros((link_slots.size, wg.num_genes), np.float32)
        np.add.at(self.W, (link_of_slot[row_of], indices), data)

    @property
    def nbytes(self) -> int:
        """Bytes held by the dense ``W``."""
        return self.W.nbytes

    def logits(self, genotype: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """One genotype ``(n,)`` → logits ``(B, C)``: dense ``W x``, dense masked layers."""
        w = self.W @ genotype.astype(np.float32)
        w1 = np.zeros((self.d, self.h), np.float32)
        w1[self.mask] = w[: self.m1]
        w2 = w[self.m1 :].reshape(self.h, self.c)
        return np.maximum(inputs @ w1, 0.0) @ w2

    def fitness(self, genotypes: np.ndarray, inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The paper's δ for every genotype ``(N, n)`` → ``(N,)``."""
        inputs = np.asarray(inputs, np.float32)
        out = np.empty(len(genotypes), np.float32)
        for g, x in enumerate(genotypes):
            out[g] = _delta(self.logits(x, inputs), labels, self.c)
        return out

    def generation(
        self, rng: np.random.Generator, p: np.ndarray, pop_size: int, eps: float, inputs: np.ndarray, labels: np.ndarray
    ) -> np.ndarray:
        """Sample → weights → forward → δ → allele rewards → equation (3). Returns the new ``p``."""
        genotypes = (rng.random((pop_size, p.size)) < p).astype(np.float32)
        return self.update(p, genotypes, self.fitness(genotypes, inputs, labels), eps)

    update = staticmethod(NumpyNNE.update)
