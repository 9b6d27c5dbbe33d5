"""lossapi: loss functions written once against the Python array API standard.

Every loss takes arrays of one library (NumPy, PyTorch, JAX, CuPy, Dask,
array-api-strict, ...) and returns an array of that library, dtype and device.
This module only re-exports the families.
"""

from . import (
               classification,
               detection,
               distillation,
               divergence,
               embedding,
               language,
               preference,
               ranking,
               regression,
               segmentation,
               sequence,
)
from .classification import *  # noqa: F403
from .detection import *  # noqa: F403
from .distillation import *  # noqa: F403
from .divergence import *  # noqa: F403
from .embedding import *  # noqa: F403
from .language import *  # noqa: F403
from .preference import *  # noqa: F403
from .ranking import *  # noqa: F403
from .regression import *  # noqa: F403
from .segmentation import *  # noqa: F403
from .sequence import *  # noqa: F403

__version__ = "0.1.0"

FAMILIES = {
    "regression": tuple(regression.__all__),
    "classification": tuple(classification.__all__),
    "divergence": tuple(divergence.__all__),
    "embedding": tuple(embedding.__all__),
    "segmentation": tuple(segmentation.__all__),
    "ranking": tuple(ranking.__all__),
    "detection": tuple(detection.__all__),
    "sequence": tuple(sequence.__all__),
    "language": tuple(language.__all__),
    "distillation": tuple(distillation.__all__),
    "preference": tuple(preference.__all__),
}

__all__ = [name for names in FAMILIES.values() for name in names]
