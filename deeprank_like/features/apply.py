"""Run feature modules on a graph and check their output against the declared specs."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from deeprank_like.errors import DeeprankLikeError, FeatureError
from deeprank_like.features.base import FeatureContext, FeatureSpec

__all__ = ["apply_modules"]

log = logging.getLogger(__name__)


def _reason(module: Any, context: FeatureContext) -> str | None:
    if hasattr(module, "unavailable_reason"):
        return module.unavailable_reason(context)
    if context.resolution not in getattr(module, "resolutions", ("residue", "atom")):
        return f"module {module.name!r} does not support {context.resolution} graphs"
    if context.query_kind not in getattr(module, "query_kinds", ("ppi", "srv")):
        return f"module {module.name!r} does not apply to {context.query_kind} queries"
    return None


def _check(spec: FeatureSpec, value: Any, rows: int, query_id: str) -> np.ndarray | Any:
    where = f"query {query_id}: module {spec.module!r}, feature {spec.name!r}"
    arr = np.asarray(value)
    if spec.kind == "target":
        arr = arr.reshape(-1) if arr.ndim else arr
        if arr.size != spec.width:
            raise FeatureError(f"{where}: target has {arr.size} values, spec says {spec.width}")
    else:
        if arr.shape[:1] != (rows,):
            raise FeatureError(f"{where}: {arr.shape[0] if arr.ndim else 0} rows, expected {rows}")
        width = 1 if arr.ndim == 1 else int(np.prod(arr.shape[1:]))
        if width != spec.width:
            raise FeatureError(f"{where}: width {width}, spec says {spec.width}")
        arr = arr.reshape(rows) if spec.width == 1 else arr.reshape(rows, spec.width)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise FeatureError(f"{where}: {bad} non-finite value(s) (NaN or inf)")
    if spec.kind != "target" or spec.width != 1:
        return arr.astype(spec.dtype, copy=False)
    scalar = np.asarray(arr.reshape(-1)[0], dtype=spec.dtype)
    return int(scalar) if scalar.dtype.kind in "iub" else float(scalar)


def apply_modules(context: FeatureContext, modules: list[Any], skip_inapplicable: bool) -> None:
    """Compute the features of ``modules`` and store them in ``context.graph``.

    Parameters
    ----------
    context : FeatureContext
    modules : list of feature modules
    skip_inapplicable : bool
        Skip modules whose ``unavailable_reason`` is set, instead of raising; the skipped
        modules and why are recorded in ``graph.metadata["skipped_modules"]`` (name → reason).

    Raises
    ------
    FeatureError
        A module failed, is inapplicable (when not skipping), or its output violates its spec.
    """
    graph = context.graph
    qid = graph.id
    for module in modules:
        reason = _reason(module, context)
        if reason is not None:
            if skip_inapplicable:
                log.debug("query %s: skipping %s: %s", qid, module.name, reason)
                graph.metadata.setdefault("skipped_modules", {})[module.name] = reason
                continue
            raise FeatureError(f"query {qid}: {reason}")
        specs = tuple(replace(s, module=module.name) for s in module.specs(context))
        try:
            values = module.compute(context)
        except DeeprankLikeError as exc:
            if qid in str(exc):
                raise
            raise type(exc)(f"query {qid}: module {module.name!r}: {exc}") from exc
        except Exception as exc:
            raise FeatureError(
                f"query {qid}: module {module.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        missing = [s.name for s in specs if s.name not in values]
        extra = sorted(set(values) - {s.name for s in specs})
        if missing or extra:
            raise FeatureError(
                f"query {qid}: module {module.name!r} output does not match its specs "
                f"(missing {missing}, undeclared {extra})"
            )
        for spec in specs:
            if (
                spec.name in graph.feature_specs
                and graph.feature_specs[spec.name].module != module.name
            ):
                raise FeatureError(
                    f"query {qid}: feature {spec.name!r} of module {module.name!r} clashes with "
                    f"module {graph.feature_specs[spec.name].module!r}"
                )
            if spec.kind == "node":
                graph.node_features[spec.name] = _check(
                    spec, values[spec.name], graph.num_nodes, qid
                )
            elif spec.kind == "edge":
                graph.edge_features[spec.name] = _check(
                    spec, values[spec.name], graph.num_edges, qid
                )
            elif spec.kind == "target":
                graph.targets[spec.name] = _check(spec, values[spec.name], 1, qid)
            else:
                raise FeatureError(
                    f"query {qid}: feature {spec.name!r} has unknown kind {spec.kind!r}"
                )
            graph.feature_specs[spec.name] = spec
