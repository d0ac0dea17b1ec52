"""Evaluating evolved allele frequencies on a (test) set, three ways.

* ``"mean-weights"``: the network with weights ``W p`` (the mean over genotypes of ``W x``).
* ``"mode-genotype"``: the most likely genotype, ``x = round(p)``.
* ``"sampled-mean"``: the mean accuracy of ``num_samples`` genotypes sampled from ``p`` (what a
  typical member of the evolved population scores).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nne_jax.chunks import map_in_chunks
from nne_jax.generation import mean_weights
from nne_jax.genetics import sample_genotypes
from nne_jax.tasks.protocol import NetworkTask

Array = jax.Array

__all__ = ["EVAL_MODES", "network_accuracy", "evaluate_allele_freqs"]

EVAL_MODES = ("mean-weights", "mode-genotype", "sampled-mean")


@jax.jit
def network_accuracy(task: NetworkTask, weights: Array, inputs: Array, labels: Array) -> Array:
    """Accuracy of one network, slot weights ``(S,)``, on ``(M, d)`` inputs (in chunks of 1000)."""
    correct = map_in_chunks(lambda c: jnp.argmax(task.forward(weights, c[0]), -1) == c[1], (inputs, labels), 1000)
    return jnp.sum(correct) / inputs.shape[0]


def evaluate_allele_freqs(
    task: NetworkTask, allele_freqs: Array, inputs: Array, labels: Array, key: Array, num_samples: int = 32
) -> dict[str, float]:
    """Test accuracy (fraction) of ``p`` in each of :data:`EVAL_MODES`."""
    inputs, labels = jnp.asarray(inputs, jnp.float32), jnp.asarray(labels, jnp.int32)
    out = {
        "mean-weights": float(network_accuracy(task, mean_weights(task, allele_freqs), inputs, labels)),
        "mode-genotype": float(network_accuracy(task, task.weights(jnp.round(allele_freqs)), inputs, labels)),
    }
    genotypes = sample_genotypes(key, allele_freqs, num_samples)
    out["sampled-mean"] = float(_sampled_accuracy(task, genotypes, inputs, labels))
    return out


@jax.jit
def _sampled_accuracy(task: NetworkTask, genotypes: Array, inputs: Array, labels: Array) -> Array:
    def chunk_correct(c: tuple[Array, Array]) -> Array:
        logits = task.population_logits(genotypes, c[0])  # (N, c, C)
        return (jnp.argmax(logits, -1) == c[1]).T  # (c, N)

    correct = jnp.sum(map_in_chunks(chunk_correct, (inputs, labels), 500), axis=0)  # (N,)
    return jnp.mean(correct / inputs.shape[0])

