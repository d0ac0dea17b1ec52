"""Theory of Section 2: NNE on a linear target (exact loss, Lemma 1, Theorems 1 and 2).

* :mod:`nne_jax.theory.linear` — the setting (``W``, inputs in the unit ball, target ``a``), the
  closed-form expected loss ``ℒ(p)``, its gradient/Hessian, exact and enumerated allele rewards.
* :mod:`nne_jax.theory.dynamics` — equation (3) with exact rewards (infinite population) and with
  ``N`` sampled genotypes and a minibatch of inputs (finite population), both as ``lax.scan``.
* :mod:`nne_jax.theory.descent` — Theorem 1: ``U``, ``H``, the allowed ``ε``, our ``η`` (the paper
  gives none), a per-generation consistency check along exact runs, and a Monte-Carlo check of the
  theorem's ``E ℒ(p^{t+1}) <= ℒ(p^t) - η Σ_{S_t} (∇_iℒ)²`` with ``N`` sampled genotypes.
* :mod:`nne_jax.theory.feasibility` — Theorem 2: LP feasibility of ``W p = a``, max-scale LP and
  rounding to 0/1 genotypes.

Nothing here enables float64 globally; wrap checks in ``with jax.enable_x64(True):``.
"""
from nne_jax.theory.descent import (
    DescentCheck,
    MonteCarloDescent,
    check_descent,
    hessian_bound,
    loss_sup,
    monte_carlo_descent,
    sampled_step,
    theorem1_eps,
    theorem1_eta,
)
from nne_jax.theory.dynamics import (
    ExactTrace,
    FiniteTrace,
    exact_dynamics,
    exact_step,
    finite_population_dynamics,
    weak_selection_eps,
)
from nne_jax.theory.feasibility import (
    best_of_k_rounding,
    feasibility_curve,
    feasibility_fraction,
    feasible_allele_freqs,
    max_scale_allele_freqs,
)
from nne_jax.theory.linear import (
    cosine,
    enumerate_genotypes,
    enumerated_allele_rewards,
    enumerated_expected_loss,
    exact_allele_rewards,
    expected_loss,
    genotype_loss,
    loss_gradient,
    loss_hessian,
    minibatch_loss,
    sample_target,
    sample_unit_ball,
    sample_weight_matrix,
    validate,
)

__all__ = [
    "DescentCheck",
    "ExactTrace",
    "FiniteTrace",
    "MonteCarloDescent",
    "best_of_k_rounding",
    "check_descent",
    "cosine",
    "enumerate_genotypes",
    "enumerated_allele_rewards",
    "enumerated_expected_loss",
    "exact_allele_rewards",
    "exact_dynamics",
    "exact_step",
    "expected_loss",
    "feasibility_curve",
    "feasibility_fraction",
    "feasible_allele_freqs",
    "finite_population_dynamics",
    "genotype_loss",
    "hessian_bound",
    "loss_gradient",
    "loss_hessian",
    "loss_sup",
    "max_scale_allele_freqs",
    "minibatch_loss",
    "monte_carlo_descent",
    "sample_target",
    "sample_unit_ball",
    "sample_weight_matrix",
    "sampled_step",
    "theorem1_eps",
    "theorem1_eta",
    "validate",
    "weak_selection_eps",
]
