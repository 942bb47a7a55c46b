"""A stop-gap so the benchmark can open IVF indexes before `qa.index._open_version` learns to.

`_open_version` sets `dense.hnsw.efSearch` on every index read from `dense.faiss`, which
fails for an IVF index (it has `nprobe`, not `hnsw`). Until the library configures search
parameters by index type (the change proposed in bench/README.md), this patches
`faiss.read_index` *in the benchmark process only* so that an IVF index read from disk gets
a harmless `hnsw` attribute and `Config.ivf_nprobe`. It switches itself off once the
library no longer touches `.hnsw` unconditionally.
"""

from __future__ import annotations

import inspect
import types

_applied = False


def needed() -> bool:
    import qa.index

    src = inspect.getsource(qa.index._open_version)
    return "dense.hnsw.efSearch" in src and "hasattr(dense" not in src and "configure_dense_search" not in src


def apply(config) -> bool:
    """Patch if needed; returns True when the shim is active."""
    global _applied
    if _applied:
        return True
    if not needed():
        return False
    import faiss

    original = faiss.read_index

    def read_index(*args, **kwargs):
        index = original(*args, **kwargs)
        if hasattr(index, "nprobe") and not hasattr(index, "hnsw"):
            cls = index.__class__
            shim = type(cls.__name__, (cls,), {"hnsw": property(lambda self: types.SimpleNamespace())})
            index.__class__ = shim
            index.nprobe = min(getattr(config, "ivf_nprobe", index.nprobe), index.nlist)
        return index

    faiss.read_index = read_index
    _applied = True
    return True
