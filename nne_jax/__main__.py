"""``python -m nne_jax ...``: see :mod:`nne_jax.cli`."""
import sys

from nne_jax.cli import main

sys.exit(main())
