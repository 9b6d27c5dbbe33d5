"""The preparation step: validate and cast a loss's inputs into one record.

A family function calls one preparation function (:func:`prepare` for
arrays of equal shapes, :func:`classes` for class scores and labels) and gets
a :class:`Prepared` record; it ends with ``return a.run(math, **options)``.
Argument names in messages come from the loss's own signature (its
positional-only parameters), so no name is typed twice.

The dtype policy lives here: the first array (the prediction) must be real
floating; float16 and bfloat16 are computed in float32 and the result cast
back; floating, integer and boolean targets are cast to the compute dtype,
integer class labels stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..backends import Ops, resolve
from . import validate as v
from .loss import current, dispatch

_NO_AXIS: Any = object()  # prepare(): an elementwise loss


class Prepared(NamedTuple):
    """A loss call's validated inputs (immutable; a named tuple, which is
    built in a fraction of a frozen dataclass's time on every call).

    Attributes:
      ops: the backend (``ops.xp`` the namespace, ``ops.<primitive>``).
      out_dtype: the dtype of the result (the prediction's).
      reduction: "mean", "sum" or "none".
      arrays: the loss's arrays in argument order: floating ones in the
        compute dtype, integer class labels as given, None passed through.
      axis: the normalised class / feature / list axis, where the loss has one.
      probs: :func:`classes` only: the target holds probabilities, not labels.
      checks: value checks (:class:`~lossapi._core.validate.ValueCheck`) for
        the dispatcher to run.
      where: the caller's ``where=`` mask per input element (the first
        array's shape, after any tuple of axes was flattened into ``axis``)
        for a loss that reduces over ``axis``; None when every element of a
        kept sample takes part. The math leaves masked elements out of its
        reductions over ``axis``.
      keep: one boolean per unreduced value (None: all kept); applied by
        :func:`~lossapi._core.reduce.reduce`, not by the math.
    """

    ops: Ops
    out_dtype: Any
    reduction: str
    arrays: tuple[Any, ...]
    axis: int | None = None
    probs: bool = False
    checks: tuple[v.ValueCheck, ...] = ()
    where: Any = None
    keep: Any = None

    @property
    def xp(self) -> Any:
        return self.ops.xp

    @property
    def dtype(self) -> Any:
        """The compute dtype."""
        return self.arrays[0].dtype

    @property
    def device(self) -> Any:
        """The prediction's device (for arrays a loss creates, ``xp.arange(n, device=a.device)``)."""
        return device(self.arrays[0])

    def sum(self, x: Any, axis: Any) -> Any:
        """``x`` summed over ``axis``, leaving out the elements ``where``
        masks (the caller's inputs must give them finite values)."""
        xp = self.ops.xp
        return xp.sum(x if self.where is None else xp.where(self.where, x, xp.zeros_like(x)), axis=axis)

    def masked(self, where: Any, axes: tuple[int, ...] | None = None) -> Prepared:
        """This record with the caller's ``where=`` (see :func:`masks`) over
        the first array's shape, whose values reduce ``axes`` (default: the
        last axis, the feature or class axis)."""
        if where is None:
            return self
        x = self.arrays[0]
        element, keep = masks(self.ops, where, tuple(x.shape), (x.ndim - 1,) if axes is None else axes)
        return self._replace(where=element, keep=keep)

    def run(self, math: Callable[..., Any], **options: Any) -> Any:
        """The loss's result: a backend kernel's if one applies, else
        ``math(self, *self.arrays, **options)`` reduced (see
        :func:`lossapi._core.loss.dispatch`)."""
        return dispatch(self, math, options)


def backend(*arrays: Any) -> Ops:
    """The backend of the current loss call's arrays (None and Python
    scalars ignored; two libraries are a TypeError naming the loss), for a
    loss that validates its arrays itself rather than through :func:`prepare`."""
    return resolve(current().name, *arrays)


def device(x: Any) -> Any:
    """An array's device, on every library (array-api-compat's helper)."""
    import array_api_compat

    return array_api_compat.device(x)


def compute_dtype(ops: Ops, dtype: Any) -> Any:
    """float16 / bfloat16 are computed in float32; float32/64 as they are."""
    xp = ops.xp
    return dtype if dtype == xp.float32 or dtype == xp.float64 else xp.float32


def float_array(ops: Ops, x: Any, name: str) -> Any:
    if not hasattr(x, "dtype") or ops.kind(x.dtype) != "f":
        raise v.BadType(f"{name} must be a real floating-point array, got {getattr(x, 'dtype', type(x).__name__)}")
    return x


def cast(ops: Ops, x: Any, dtype: Any, name: str) -> Any:
    """``x`` (an array, already checked: integer, boolean or floating) in
    ``dtype``; complex is an error."""
    if x.dtype == dtype:
        return x
    if ops.kind(x.dtype) == "c":
        raise v.BadType(f"{name} must be real, got {x.dtype}")
    return ops.xp.astype(x, dtype)


def prepare(*arrays: Any, reduction: str, same_shape: bool = True, extra: Sequence[Any] = (),
            names: Sequence[str] | None = None, where: Any = None, axis: Any = _NO_AXIS,
            reshape: int | None = None, what: str = "inputs") -> Prepared:
    """Validate and cast arrays that pair up element by element.

    ``arrays[0]`` is the prediction (real floating); the others (None passes
    through) are cast to its compute dtype and, with ``same_shape``, must have
    its shape. ``extra`` arrays (weights, ...) only join the one-library check;
    validate them with :func:`weight` or :func:`class_weight`.

    ``where``: the caller's mask. Without ``axis`` the loss is elementwise:
    the mask broadcasts to the prediction's shape and becomes ``keep``. With
    ``axis`` (an int or a tuple of ints; a tuple is moved to the end and
    flattened into one axis, in the first ``reshape`` arrays, all of them by
    default) the loss reduces over it: see :func:`masks`.
    """
    call = current()
    names = tuple(names or call.params)
    v.reduction(reduction)
    v.array_or_none("where", where)
    ops = resolve(call.name, *arrays, *extra, where)
    if ops.adopts_numpy:
        arrays = tuple(None if o is None else ops.own(o) for o in arrays)
    x = float_array(ops, arrays[0], names[0])
    out_dtype = x.dtype
    cdt = compute_dtype(ops, out_dtype)
    if x.dtype != cdt:
        x = ops.xp.astype(x, cdt)
    out: list[Any] = [x]
    for name, o in zip(names[1:], arrays[1:]):
        if o is None:
            out.append(None)
            continue
        v.array(name, o)
        if same_shape:
            v.same_shape(x, o, (names[0], name))
        out.append(cast(ops, o, cdt, name))
    if axis is _NO_AXIS:
        if where is None:
            return Prepared(ops, out_dtype, reduction, tuple(out))
        return Prepared(ops, out_dtype, reduction, tuple(out), keep=masks(ops, where, tuple(x.shape))[1])
    axes = v.axis_or_axes(axis, x.ndim, what)
    shape = tuple(x.shape)
    element, keep = masks(ops, where, shape, axes)
    n = len(out) if reshape is None else reshape
    if len(axes) > 1:
        out[:n] = [None if o is None else last_axis(ops, o, axes) for o in out[:n]]
        element = None if element is None else last_axis(ops, element, axes)
        ax = out[0].ndim - 1
    else:
        ax = axes[0]
    return Prepared(ops, out_dtype, reduction, tuple(out), ax, where=element, keep=keep)


def last_axis(ops: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x`` with ``axes`` moved to the end and flattened into one (how a
    tuple of axes is reduced over: every reduction over the axis is then a
    reduction over all of them)."""
    xp = ops.xp
    rest = [i for i in range(x.ndim) if i not in axes]
    y = xp.permute_dims(x, (*rest, *axes))
    return xp.reshape(y, (*(x.shape[i] for i in rest), -1))


def masks(ops: Any, where: Any, shape: tuple, axes: tuple[int, ...] = ()) -> tuple[Any, Any]:
    """The ``where=`` mask of a loss whose inputs have ``shape`` and whose
    values reduce ``axes`` (none: an elementwise loss): ``(element, keep)``.

    A mask of the per-sample shape (``shape`` without ``axes``) selects whole
    samples: ``(None, where)``. Otherwise it must broadcast to ``shape``
    (without growing it) and selects elements: ``(mask, any(mask over
    axes))``, a sample with nothing left being dropped. None gives
    ``(None, None)``.
    """
    if where is None:
        return None, None
    v.array("where", where)
    where = ops.own(where)
    if ops.kind(where.dtype) != "b":
        raise v.BadType(f"where must be a boolean array, got dtype {where.dtype}")
    wshape = tuple(where.shape)
    sample = tuple(n for i, n in enumerate(shape) if i not in axes)
    if axes and wshape == sample:
        return None, where
    xs = wshape
    if not (len(xs) <= len(shape) and all(a in (1, b) for a, b in zip(xs[::-1], shape[::-1]))):
        also = f" or the per-sample shape {sample}" if axes else ""
        raise v.BadValue(f"where has shape {wshape}; it must broadcast to the input shape {shape}{also}")
    xp = ops.xp
    element = where if wshape == shape else xp.broadcast_to(where, shape)
    if not axes:
        return element, element
    return element, xp.any(element, axis=axes)


def weight(a: Prepared, w: Any, name: str) -> Any:
    """An optional elementwise weight broadcastable to the prediction's shape
    (not growing it), in the compute dtype."""
    if w is None:
        return None
    v.array(name, w)
    w = a.ops.own(w)
    v.broadcasts_to(name, w, tuple(a.arrays[0].shape), current().params[0])
    return cast(a.ops, w, a.dtype, name)


def class_weight(a: Prepared, w: Any, name: str = "weight") -> Any:
    """An optional ``[C]`` per-class weight, in the compute dtype."""
    if w is None:
        return None
    v.array(name, w)
    w = a.ops.own(w)
    num_classes = a.arrays[0].shape[a.axis]
    if tuple(w.shape) != (num_classes,):
        raise v.BadValue(f"{name} must have shape ({num_classes},), one value per class, got shape {tuple(w.shape)}")
    if a.ops.kind(w.dtype) not in ("f", "i"):
        raise v.BadType(f"{name} must be a real array, got dtype {w.dtype}")
    return cast(a.ops, w, a.dtype, name)


def classes(scores: Any, target: Any, *, axis: Any, reduction: str, probs: bool = False,
            ignore_index: int | None = None, extra: Sequence[Any] = (), where: Any = None) -> Prepared:
    """Validate class scores with integer labels (or, with ``probs=True``,
    floating class probabilities, told apart by dtype).

    Labels have the scores' shape without ``axis`` and stay as given; a value
    check that they lie in ``[0, C)`` (or equal ``ignore_index``) is attached.
    Probabilities have the scores' shape and are cast to the compute dtype;
    with them ``axis`` may be a tuple of axes (moved to the end and flattened
    into one). ``where``: per sample or per score, see :func:`masks`.
    """
    call = current()
    sname, tname = call.params[0], call.params[1]
    v.reduction(reduction)
    v.array(tname, target)
    v.array_or_none("where", where)
    ops = resolve(call.name, scores, target, *extra, where)
    if ops.adopts_numpy:
        scores, target = ops.own(scores), ops.own(target)
    float_array(ops, scores, sname)
    if scores.ndim == 0:
        raise v.BadValue(f"{sname} must have a class axis, got a 0-d array")
    axes = v.axis_or_axes(axis, scores.ndim, "scores")
    element, keep = masks(ops, where, tuple(scores.shape), axes)
    if len(axes) > 1:
        if not (probs and ops.kind(target.dtype) == "f"):
            why = "which needs probability targets; integer " if probs else "but integer "
            raise v.BadValue(f"axis {tuple(axis)} is a tuple of axes, {why}class labels have one class axis "
                             "(pass an int)")
        if tuple(target.shape) != tuple(scores.shape):
            raise v.BadValue(f"{sname} has shape {tuple(scores.shape)} but {tname} has shape "
                             f"{tuple(target.shape)}; probability targets must have the shape of {sname}")
        scores, target = last_axis(ops, scores, axes), last_axis(ops, target, axes)
        element = None if element is None else last_axis(ops, element, axes)
        ax = scores.ndim - 1
    else:
        ax = axes[0]
    out_dtype = scores.dtype
    cdt = compute_dtype(ops, out_dtype)
    if scores.dtype != cdt:
        scores = ops.xp.astype(scores, cdt)
    shape = tuple(scores.shape)
    sample_shape = shape[:ax] + shape[ax + 1:]
    tshape = tuple(target.shape)
    tkind = ops.kind(target.dtype)
    if tkind == "i":
        if tshape != sample_shape:
            raise v.BadValue(
                f"{sname} has shape {shape} (classes on axis {ax}) but the integer class labels in {tname} have "
                f"shape {tshape}; they must have shape {sample_shape}"
                + (f", or {tname} must hold probabilities of shape {shape}" if probs else ""))
        check = v.label_range(target, shape[ax], ignore_index, tname)
        return Prepared(ops, out_dtype, reduction, (scores, target), ax, False, (check,), element, keep)
    if probs and tkind == "f":
        if tshape != shape:
            if tshape == sample_shape:
                raise v.BadType(f"{tname} of shape {tshape} has dtype {target.dtype}: class labels must be integers "
                                f"(probability targets have the shape of {sname})")
            raise v.BadValue(f"{sname} has shape {shape} but {tname} has shape {tshape}; probability targets must "
                             f"have the shape of {sname}, integer class labels shape {sample_shape}")
        return Prepared(ops, out_dtype, reduction, (scores, cast(ops, target, cdt, tname)), ax, True, (), element,
                        keep)
    kinds = "integer class labels or floating class probabilities" if probs else "integer class labels"
    raise v.BadType(f"{tname} must hold {kinds}, got dtype {target.dtype}")
