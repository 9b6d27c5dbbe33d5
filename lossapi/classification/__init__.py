"""Classification losses: binary, multiclass, multi-label, focal, margin and Poly-1.

Three layouts:

* **Binary / elementwise** (:func:`binary_cross_entropy`,
  :func:`binary_cross_entropy_with_logits`, :func:`binary_focal`,
  :func:`hinge`, :func:`squared_hinge`, :func:`soft_margin`,
  :func:`sparsemax_loss`, :func:`perceptron`): ``pred`` and
  ``target`` have equal shapes and ``reduction="none"`` returns one value
  per element.
* **Multiclass** (:func:`cross_entropy`, :func:`nll`, :func:`focal`,
  :func:`multiclass_hinge`, :func:`poly1`, :func:`multiclass_sparsemax`,
  :func:`multiclass_perceptron`, :func:`generalized_cross_entropy`): scores with a class axis ``axis``
  (default ``-1``, the last) and integer class labels with the scores' shape
  without that axis (``[N]`` for ``[N, C]`` scores). ``reduction="none"``
  returns one value per sample, the labels' shape. **torch puts the classes on
  axis 1**: for its ``[N, C, d1, ...]`` layout pass ``axis=1``.
* **Multi-label** (:func:`multilabel_margin`, :func:`multilabel_soft_margin`,
  :func:`asymmetric`):
  scores ``[..., C]`` with the classes on the last axis (torch's layout),
  targets of the scores' shape (class indices padded with ``-1``, or
  0/1 targets); ``reduction="none"`` returns one value per sample.

``where=`` (README, "Conventions"): elementwise losses take a mask that
broadcasts to ``pred``'s shape; multiclass and multi-label losses take one
per sample or one per score (a masked class leaves the softmax normaliser,
the hinge sums and the class mean; :func:`cross_entropy` with labels follows
optax and uses the label's own score even where masked, :func:`nll`,
:func:`focal`, :func:`poly1` and :func:`multiclass_hinge` drop a sample whose
label's class is masked). With probability targets, ``axis`` may be a tuple.

Class labels out of ``[0, C)`` (and not equal to ``ignore_index``) are a
``ValueError`` where the values can be read without a device synchronisation
or breaking tracing: NumPy, array-api-strict and torch CPU tensors outside
``torch.compile``. Elsewhere (JAX, Dask, CuPy, torch under ``torch.compile``)
such a sample's loss is NaN, so the mean is NaN rather than silently wrong.
On torch CUDA tensors the losses that run torch's own kernel
(:func:`cross_entropy` and :func:`nll` with labels, Weston-Watkins
:func:`multiclass_hinge`, :func:`multilabel_margin`) get its device-side assert, the others NaN: no
check costs a host synchronisation.

See the user guide (README, "Conventions") for what ``reduction`` does and how
dtypes are handled.

The family's modules: ``binary`` (elementwise losses), ``multiclass`` (class
axis), ``multilabel`` (several true classes per sample) and ``_labels``
(label gathering, masks and torch's weighted means, shared by the multiclass
losses).
"""

from .binary import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    binary_focal,
    hinge,
    perceptron,
    soft_margin,
    sparsemax_loss,
    squared_hinge,
)
from .multiclass import (
    cross_entropy,
    focal,
    generalized_cross_entropy,
    multiclass_hinge,
    multiclass_perceptron,
    multiclass_sparsemax,
    nll,
    poly1,
)
from .multilabel import asymmetric, multilabel_margin, multilabel_soft_margin

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll",
    "binary_focal",
    "focal",
    "hinge",
    "squared_hinge",
    "multiclass_hinge",
    "poly1",
    "soft_margin",
    "multilabel_margin",
    "multilabel_soft_margin",
    "sparsemax_loss",
    "perceptron",
    "multiclass_sparsemax",
    "multiclass_perceptron",
    "generalized_cross_entropy",
    "asymmetric",
]
