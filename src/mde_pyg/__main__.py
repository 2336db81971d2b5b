"""``python -m mde_pyg``: the ``mde-pyg`` command, which ``torchrun`` starts as
``torchrun --nproc-per-node=N -m mde_pyg train ...``."""

from mde_pyg.command import main

main()
