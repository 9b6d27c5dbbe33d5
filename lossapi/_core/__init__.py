"""lossapi's shared layer: validation, preparation, numerics, reduction and
the ``@loss`` protocol that binds a loss's name and consults the backends'
kernel tables. Family modules import from here and hold math only."""
