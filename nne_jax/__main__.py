"""``python -m nne_jax ...``: see :mod:`nne_jax.cli`."""
from nne_jax.cli import main

main()
