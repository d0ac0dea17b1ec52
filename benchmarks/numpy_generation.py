"""A plain NumPy implementation of one NNE generation — the *baseline* the benchmark compares to.

Same math as :func:`nne_jax.generation.generation_step` with the paper's defaults (i.i.d.
genotypes, δ fitness, equation 3), written the way a NumPy user would: a loop over genotypes,
``W x`` by a CSR row reduction, dense masked matmuls for the forward pass. Checked equal to the
JAX path in ``tests/test_benchmarks.py``.
"""
from __future__ import annotations

import numpy as np


class NumpyNNE:
    """Holds host copies of ``W`` (CSR), the input mask and the slot layout of a task."""

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
        alpha2 = np.log(self.c) ** 2
        out = np.empty(len(genotypes), np.float32)
        for g, x in enumerate(genotypes):
            z = self.logits(self.weights(x), inputs)
            z = z - z.max(axis=1, keepdims=True)
            loss = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]
            out[g] = np.mean(np.maximum(0.0, alpha2 - loss**2))
        return out

    def generation(self, rng: np.random.Generator, p: np.ndarray, pop_size: int, eps: float, inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Sample → weights → forward → δ → allele rewards → equation (3). Returns the new ``p``."""
        genotypes = (rng.random((pop_size, p.size)) < p).astype(np.float32)
        return self.update(p, genotypes, self.fitness(genotypes, inputs, labels), eps)

    @staticmethod
    def update(p: np.ndarray, genotypes: np.ndarray, fitness: np.ndarray, eps: float) -> np.ndarray:
        ones = genotypes.sum(0)
        zeros = len(genotypes) - ones
        f = np.where(ones > 0, fitness @ genotypes / np.maximum(ones, 1), 0.0)
        fb = np.where(zeros > 0, fitness @ (1 - genotypes) / np.maximum(zeros, 1), 0.0)
        mean = fitness.mean()  # an absent allele's reward is the population mean: no update
        f, fb = np.where(ones > 0, f, mean), np.where(zeros > 0, fb, mean)
        a = p * np.maximum(1 + eps * f, 0)
        b = (1 - p) * np.maximum(1 + eps * fb, 0)
        return np.where(a + b > 0, a / np.where(a + b > 0, a + b, 1), p)
