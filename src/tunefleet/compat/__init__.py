"""Ray Tune compatibility: module-path aliases and the small Ray names tunefleet maps.

Nothing here is imported by ``import tunefleet``; ``tunefleet.tune``, ``tunefleet.air``
and ``tunefleet.train`` install :mod:`tunefleet.compat.aliases` when first imported.
"""
