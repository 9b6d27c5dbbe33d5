"""Dask overrides: Dask arrays are lazy and chunked. take_along_axis (Dask
has none, and the generic lazy mask handles only one index per slice) and
sort (Dask sorts only within a chunk) are overridden."""

from __future__ import annotations


def option_readable(x):
    """Dask arrays are lazy: lossapi never computes one to check an option."""
    return False


def take_along_axis(xp, x, indices, axis=-1):
    # One index per slice (class-label gathers): the generic lazy mask keeps
    # the class axis chunked. Several indices per slice (a permutation from
    # argsort, as ranking losses need): Dask has no take_along_axis, so the
    # axis is made one chunk (as array-api-compat's dask argsort does) and
    # each block is gathered by its own chunk library, lazily.
    from . import _generic

    axis = axis % x.ndim
    if indices.shape[axis] == 1:
        return _generic.take_along_axis(xp, x, indices, axis=axis)
    import dask.array as da
    from array_api_compat import array_namespace

    if tuple(x.shape[:axis] + x.shape[axis + 1:]) != tuple(indices.shape[:axis] + indices.shape[axis + 1:]):
        raise ValueError(
            f"take_along_axis on dask: x of shape {tuple(x.shape)} and indices of shape "
            f"{tuple(indices.shape)} must agree outside axis {axis}"
        )
    x = x.rechunk({axis: -1})
    indices = indices.rechunk({**{d: c for d, c in enumerate(x.chunks) if d != axis}, axis: -1})
    chunk_xp = array_namespace(x._meta)
    return da.map_blocks(
        lambda a, i: chunk_xp.take_along_axis(a, i, axis=axis),
        x, indices, dtype=x.dtype, chunks=indices.chunks, meta=x._meta,
    )


def sort(xp, x, axis=-1, descending=False):
    # Dask cannot sort along a chunked axis: that axis is made one chunk here,
    # explicitly and lazily (nothing is computed), and each block is argsorted
    # by its own chunk library; the values are gathered with the permutation.
    import dask.array as da
    from array_api_compat import array_namespace

    axis = axis % x.ndim
    x = x.rechunk({axis: -1})
    chunk_xp = array_namespace(x._meta)
    idx = chunk_xp.argsort(x._meta, axis=axis)
    perm = da.map_blocks(lambda b: chunk_xp.argsort(b, axis=axis, descending=descending, stable=True),
                         x, dtype=idx.dtype, meta=idx)
    return take_along_axis(xp, x, perm, axis=axis), perm


PRIMITIVES = {"take_along_axis": take_along_axis, "sort": sort}
