"""The shared floor under both applications (``phonjax run`` and ``phonjax bench``).

What both front doors do with a model, in one place, public and typed, so that neither
reaches into the other: ``forces`` (forces of many displaced supercells from one model:
the lanes, the batching, the Hessian route). Relaxation, the cell choice, Born charges
and the reference model are still in ``phonjax.bench`` and ``phonjax.single``; they move
here next (issue 24).
"""
