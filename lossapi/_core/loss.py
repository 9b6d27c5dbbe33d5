"""The ``@loss`` protocol: every public loss is a function decorated here.

``@loss`` binds the loss's name once (from the function's name) and:

* turns a :class:`~lossapi._core.validate.ArgumentError` raised anywhere in
  the call into ``TypeError`` / ``ValueError`` prefixed with that name;
* opens a :class:`Call` that the preparation step and :func:`dispatch` read
  (the loss's name and its array parameters' names);
* replays call plans (below).

:func:`dispatch` is the one place a backend's kernel table is consulted. A
family function validates and casts its inputs into a
:class:`~lossapi._core.prepare.Prepared` record and ends with
``return a.run(math, **options)``: if the backend's ``KERNELS`` table has a row
for the loss whose ``when`` accepts the call, the row's kernel computes the
reduced value; otherwise ``math(a, *a.arrays, **options)`` runs against the
array API and :func:`~lossapi._core.reduce.reduce` reduces it.

Call plans. On small inputs the Python checks cost more than torch's kernel.
After a checked call that ran one kernel directly on the caller's own arrays
(no cast, no reshape, no array passed twice) with no value check left to
Python, the call's signature (each argument's type, and dtype and shape or
Python value) maps to a :class:`Plan`: the kernel row and where each of its
arguments comes from. The next call with that signature replays the plan with
plain code. A value check attached to the record (class labels in range, ...)
prevents a plan unless the kernel's row declares that its kernel checks the
same thing (``Kernel.checks``): skipping a check on a repeated call is always
a decision written in a kernel table, never an accident. When a replayed
kernel raises (bad values), the full path runs again and raises lossapi's
error; when the backend's kernel table (``ops.kernels``, read afresh on each
replay, so replacing the whole table counts too) no longer holds the row
(tests switch kernels off), the plan stands down.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..backends import PLAN_TYPES, Kernel
from .reduce import reduce
from .validate import ArgumentError, BadValue

F = TypeVar("F", bound=Callable[..., Any])

_TLS = threading.local()
_PLAIN = frozenset((int, float, str, bool, type(None)))
_MAX_PLANS = 256  # per loss; a full table is emptied (shapes that vary without end)
_MISS = object()


class Call:
    """The loss call in progress: its name, its array parameters' names, and
    what :func:`dispatch` ran (for planning)."""

    __slots__ = ("name", "params", "ran", "options")

    def __init__(self, name: str, params: tuple[str, ...]):
        self.name = name
        self.params = params
        self.ran: tuple | None = None  # (kernel row, ops, arrays, options, output)
        # 0-d array options (validate.number): (array, its ValueCheck)
        self.options: list[tuple[Any, Any]] = []


def current() -> Call:
    call = getattr(_TLS, "call", None)
    if call is None:
        raise RuntimeError("lossapi: no loss call in progress (a preparation step ran outside @loss)")
    return call


def loss(fn: F) -> F:
    """Make ``fn`` a public loss (see the module documentation)."""
    name = fn.__name__
    params = tuple(p.name for p in inspect.signature(fn).parameters.values()
                   if p.kind is inspect.Parameter.POSITIONAL_ONLY)
    plans: dict[tuple, Plan | bool] = {}

    def full(args: tuple, kwargs: dict, key: tuple | None) -> Any:
        call = Call(name, params)
        prev = getattr(_TLS, "call", None)
        _TLS.call = call
        try:
            out = fn(*args, **kwargs)
        except ArgumentError as e:
            raise e.named(name) from None
        finally:
            _TLS.call = prev
        if key is not None:
            if len(plans) >= _MAX_PLANS:
                plans.clear()
            plans[key] = _make_plan(call, out, args, kwargs) or False
        return out

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        # Plans only for an array type that has them and a loss with a kernel
        # row there: other calls skip the signature.
        planner = PLAN_TYPES.get(type(args[0])) if args else None
        if planner is None or name not in planner[1] or not planner[0]():
            return full(args, kwargs, None)
        try:
            key = _signature(args, kwargs)
            plan = plans.get(key)
        except (AttributeError, TypeError):  # not an array; an unhashable option
            return full(args, kwargs, None)
        if plan is None:
            return full(args, kwargs, key)
        if plan is False:
            return full(args, kwargs, None)
        try:
            out = _replay(plan, name, args, kwargs)  # type: ignore[arg-type]
        except Exception:  # bad values: the full path raises lossapi's error
            return full(args, kwargs, None)
        return full(args, kwargs, None) if out is _MISS else out

    call.plans = plans  # type: ignore[attr-defined]  # for tests
    call.__wrapped_loss__ = fn  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


def dispatch(a: Any, math: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Run the backend kernel for the current loss if its table has an
    accepting row, else ``math`` and :func:`reduce`. ``a`` is the
    :class:`~lossapi._core.prepare.Prepared` record."""
    call = current()
    if call.options:
        options = _array_options(call, a, options)
    row = a.ops.kernels.get(call.name)
    if row is not None and a.keep is None and (row.when is None or row.when(a, options)) and not (
            call.options and any(getattr(options.get(k), "ndim", None) == 0 for k in row.options)):
        return _run_kernel(call, row, a, options)
    for check in a.checks:
        check.run(a.ops)
    return reduce(a.ops, math(a, *a.arrays, **options), a.reduction, a.out_dtype, a.keep)


def _array_options(call: Call, a: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Check the 0-d array options' values (where readable) and bring them
    to the inputs' library and compute dtype. A kernel row does not run with
    an array-valued option (its native kernel takes Python numbers)."""
    ops = a.ops
    converted = {}
    for value, check in call.options:
        x = ops.own(value)  # another library's array: a TypeError first
        check.run(ops)
        converted[id(value)] = x if x.dtype == a.dtype else ops.xp.astype(x, a.dtype)
    return {k: converted.get(id(val), val) for k, val in options.items()}


def _run_kernel(call: Call, row: Kernel, a: Any, options: dict[str, Any]) -> Any:
    pending = [c for c in a.checks if c.kind not in row.checks]
    for check in pending:
        check.run(a.ops)
    opts = {"reduction": a.reduction, **{k: options[k] for k in row.options}}
    try:
        out = row.fn(*a.arrays, **opts)
    except Exception as e:
        for check in a.checks:  # bad values: lossapi's own message first
            check.run(a.ops)
        msg = row.errors(e) if row.errors is not None else None
        if msg is None:
            raise
        raise BadValue(msg) from None
    if out.dtype != a.out_dtype:
        out = a.ops.xp.astype(out, a.out_dtype)
    call.ran = (row, a.ops, a.arrays, opts, out, a.ops.xp.astype) if not pending else None
    return out


# --- call plans -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A recorded kernel call: which caller argument feeds each kernel
    argument (``slots``: a position or a keyword name; None when the kernel
    takes the caller's positional arguments as they are) and the kernel's
    plain options."""

    row: Kernel
    ops: Any = field(repr=False)  # its kernels table is looked up on each replay
    slots: tuple[int | str, ...] | None
    options: dict[str, Any]
    array_options: tuple[tuple[str, int | str], ...]
    out_dtype: Any
    astype: Callable[..., Any] = field(repr=False)


def _signature(args: tuple, kwargs: dict) -> tuple:
    # Flat and unambiguous: keyword names first, then per value its type,
    # which says whether (value) or (dtype, shape) follows. AttributeError:
    # not an array. One loop over positional and keyword values.
    key: list[Any] = [tuple(kwargs)]
    for v in (*args, *kwargs.values()) if kwargs else args:
        t = type(v)
        key.append(t)
        if t in _PLAIN:
            key.append(v)
        else:
            key.append(v.dtype)
            key.append(v.shape)
    return tuple(key)


def _make_plan(call: Call, out: Any, args: tuple, kwargs: dict) -> Plan | None:
    if call.ran is None:
        return None
    row, ops, arrays, opts, kout, astype = call.ran
    if kout is not out:  # the loss computed further after the kernel
        return None
    where: dict[int, int | str] = {}
    for src in (*enumerate(args), *kwargs.items()):
        k, v = src
        if type(v) not in _PLAIN:
            if id(v) in where:  # one array passed twice: its slots would be ambiguous
                return None
            where[id(v)] = k
    used: list[int | str] = []

    def slot(v: Any) -> int | str:
        s = where.get(id(v))
        if s is None or s in used:  # derived (a cast, a reshape) or read twice
            raise LookupError
        used.append(s)
        return s

    try:
        slots = tuple(slot(v) for v in arrays)
        plain = {k: v for k, v in opts.items() if type(v) in _PLAIN}
        array_options = tuple((k, slot(v)) for k, v in opts.items() if type(v) not in _PLAIN)
    except LookupError:
        return None
    if len(used) != len(where):  # an argument the kernel never saw: its values mattered elsewhere
        return None
    as_is = slots == tuple(range(len(args)))
    return Plan(row, ops, None if as_is else slots, plain, array_options, kout.dtype, astype)


def _replay(plan: Plan, name: str, args: tuple, kwargs: dict) -> Any:
    if plan.ops.kernels.get(name) is not plan.row:  # the table now, not the one planned with
        return _MISS
    if plan.slots is None:
        arrays: Any = args
    else:
        arrays = [args[s] if type(s) is int else kwargs[s] for s in plan.slots]
    opts = plan.options
    if plan.array_options:
        opts = {**opts, **{k: (args[s] if type(s) is int else kwargs[s]) for k, s in plan.array_options}}
    out = plan.row.fn(*arrays, **opts)
    return out if out.dtype == plan.out_dtype else plan.astype(out, plan.out_dtype)
