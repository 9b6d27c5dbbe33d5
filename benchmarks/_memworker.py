"""Worker process measuring the peak memory of torch CPU calls.

Reads ``{"pairs": [pair ids], "size": "large"}`` on stdin, prints one JSON
line ``{pair_id: {mode: {"ours": bytes, "peer": bytes}}}``. It runs apart
from the timing process because it changes malloc's behaviour (every block
above 64 KiB mmapped and returned on free, see timing.rss_peak_bytes), which
would slow the timed calls.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from . import timing as T

T.use_mmap_malloc()  # before torch allocates anything

from . import pairs as P  # noqa: E402


def main() -> None:
    job = json.load(sys.stdin)
    threads = os.environ.get("LOSSAPI_BENCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    import lossapi

    mods = P.Mods()
    by_id = {p.id: p for p in P.all_pairs()}
    out: dict[str, dict[str, dict[str, object]]] = {}
    for pid in job["pairs"]:
        pair = by_id[pid]
        ours_fn, peer_fn = P.bound(pair, lossapi, mods)
        base = P.make_inputs(pair, job["size"], seed=0)
        pbase = pair.peer_prep(list(base)) if pair.peer_prep else base
        a, b = P.to_lib("torch", base), P.to_lib("torch", pbase)
        del base, pbase
        res: dict[str, dict[str, object]] = {}
        for mode in ("fwd", "fwdbwd") if pair.grad else ("fwd",):
            aa, bb = (T.torch_leaves(a, pair.grad), T.torch_leaves(b, pair.grad)) if mode == "fwdbwd" else (a, b)
            try:
                ours = T.rss_peak_bytes(T.make_step("torch", ours_fn, aa, mode, pair.grad))
                peer = T.rss_peak_bytes(T.make_step("torch", peer_fn, bb, mode, pair.grad))
                res[mode] = {"ours": ours, "peer": peer}
            except Exception as e:  # reported per row
                res[mode] = {"ours": None, "peer": None, "error": f"{type(e).__name__}: {e}"}
            del aa, bb
            gc.collect()
        out[pid] = res
        del a, b
        gc.collect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
