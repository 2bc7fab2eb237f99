"""`betagm`: the β-GM eigenvalues λ₇..λ₁₆ of a query's structure, as a training target.

A *target* feature module (spec kind ``"target"``): it adds one vector-valued target
``graph.targets["betagm"]`` (width ``n_eigenvalues``, 10 by default, ascending, in units of the
spring constants) to every graph it runs on. It applies to every query kind (``ppi``, ``srv``) and
every resolution (``residue``, ``atom``): the value depends on the structure (and on which chains
are modelled), never on the graph's nodes.

Which chains form the network (``chains``)
------------------------------------------
``"structure"`` (default, what ``feature_modules=["betagm"]`` gives)
    Every chain of the structure that has Cα atoms (amino-acid chains, in file order), modelled as
    **one** network: residues of different chains are never "bonded" (no k_bonded spring across
    chains) and every chain end is a terminus without a Cβ; chains interact through the ordinary
    non-bonded springs. Every query on one structure gets the same value, so it is computed once
    per structure and process (see *Caching*).
``"query"``
    The query's own chains: an SRV query's chain, or the chains of both sides of a PPI query.
a chain id or a list of chain ids
    Exactly these chains (an unknown chain is an error of this query).

Conventions
-----------
The model conventions are a :class:`~deeprank_like.enm.BetaGMConfig`. The module's default is
``BetaGMConfig(chain_breaks="split")``: whole deposited structures routinely have unresolved loops,
so a Cα–Cα gap > 4.2 Å inside a chain splits it into two segments (termini without Cβ on both
sides, no bonded spring across the gap) instead of failing. Everything else is the spec default
(R_c = 7.5 Å, k = 2/1/1/0.5, exact Jacobian, λ₇..λ₁₆). Pass ``config=`` to change any of it (the
experiment's windows use ``chain_breaks="raise"`` and skip windows with gaps instead).

Not part of ``"all"``
--------------------
``target_module = True``: ``feature_modules="all"`` leaves the module out (it is a target, and it
costs more than most features); name it (``"betagm"``) or pass a configured instance.

When it cannot run (``unavailable_reason``)
-------------------------------------------
The eigenvalues are computed in :meth:`BetaGM.unavailable_reason` (and cached), so that a structure
whose network is not rigid (zero-mode count ≠ 6: "floppy"), that is too small, or has a residue
without Cα, yields a *reason* naming the cause: a lenient caller skips the target for that query,
while the usual explicit use turns the reason into a :class:`~deeprank_like.errors.FeatureError`
naming the query (batch processing records it as that query's failure). Structures with more than
``max_residues`` Cα (default 5000) are refused the same way.

Cost (measured on 1 core): about 8 ms for a 150-residue chain, 35–50 ms for a 500–600-residue
complex (shift-invert ``eigsh``; 4HHB, 574 residues: 49 ms), 0.3 s for 2,250 residues. That is
slower than building the residue graph itself (20–30 ms), so the module keeps a small per-process
LRU cache keyed by the exact Cα input (coordinates, glycine mask, chain labels) and the config: the
many queries of one structure (SRV variants, PPI decoys sharing a file) pay once.

Worker processes: a module reaches worker processes as data, its name and constructor arguments
(:func:`~deeprank_like.features.registry.module_spec`: ``{name = "betagm", kwargs = {chains =
["A"], config = {...}}}``), and every worker rebuilds it from them, so a *configured* instance
(``chains=``, ``config=``, ``max_residues=``) computes the same in every executor, and the
arguments are recorded in the file's ``config`` attribute (see ``docs/processing.md``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from deeprank_like.enm.betagm import betagm_from_ca
from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.windows import CaTrace, ca_trace, check_chain_breaks
from deeprank_like.errors import EnmError, FeatureError
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = ["DEFAULT_TARGET_CONFIG", "BetaGM", "clear_cache"]

#: The module's default conventions: the spec defaults, but chain breaks split the chain.
DEFAULT_TARGET_CONFIG = BetaGMConfig(chain_breaks="split")

_CACHE_SIZE = 64
# key -> eigenvalues (ndarray) or the EnmError message (str)
_cache: OrderedDict[bytes, np.ndarray | str] = OrderedDict()


def clear_cache() -> None:
    """Forget every cached spectrum (of this process)."""
    _cache.clear()


def _cache_key(trace: CaTrace, config: BetaGMConfig) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    h.update(np.ascontiguousarray(trace.ca).tobytes())
    h.update(np.ascontiguousarray(trace.is_glycine).tobytes())
    h.update("\x1f".join(trace.chain_ids.tolist()).encode())
    h.update(repr(sorted(config.to_dict().items())).encode())
    return h.digest()


class BetaGM(FeatureModule):
    """Target module: β-GM eigenvalues λ₇..λ₁₆ (``graph.targets["betagm"]``).

    Parameters
    ----------
    chains : "structure", "query", str or sequence of str
        Which chains form the elastic network (see the module docstring). Default
        ``"structure"``: all chains with Cα atoms, one network, chain ends as termini.
    config : BetaGMConfig, optional
        Model conventions; default :data:`DEFAULT_TARGET_CONFIG` (spec defaults with
        ``chain_breaks="split"``). ``config.n_eigenvalues`` sets the target width.
    max_residues : int or None
        Refuse (via :meth:`unavailable_reason`) structures with more Cα nodes than this;
        None for no limit. Default 5000.
    target_name : str
        Key of the target in ``graph.targets`` (default ``"betagm"``).

    Examples
    --------
    >>> from deeprank_like.enm.target import BetaGM
    >>> graph = query.build(["components", BetaGM(chains="query")])  # doctest: +SKIP
    >>> graph.targets["betagm"].shape  # doctest: +SKIP
    (10,)
    """

    name = "betagm"
    #: A target-only module: not part of ``feature_modules="all"``; name it to compute it.
    target_module = True
    resolutions = ("residue", "atom")
    query_kinds = ("ppi", "srv")
    description = "β-GM elastic-network eigenvalues λ7..λ16 of the structure (target)"

    def __init__(
        self,
        chains: str | Sequence[str] = "structure",
        config: BetaGMConfig | None = None,
        max_residues: int | None = 5000,
        target_name: str = "betagm",
    ) -> None:
        if not isinstance(chains, str):
            chains = tuple(str(c) for c in chains)
            if not chains:
                raise FeatureError("BetaGM(chains=...) needs at least one chain id")
        self.chains: str | tuple[str, ...] = chains
        self.config = config if config is not None else DEFAULT_TARGET_CONFIG
        if not isinstance(self.config, BetaGMConfig):
            raise FeatureError(f"config must be a BetaGMConfig, got {type(self.config).__name__}")
        self.max_residues = None if max_residues is None else int(max_residues)
        self.target_name = str(target_name)

    def __repr__(self) -> str:
        return (
            f"BetaGM(chains={self.chains!r}, max_residues={self.max_residues}, "
            f"target_name={self.target_name!r}, config={self.config!r})"
        )

    # ---- protocol -------------------------------------------------------------------
    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        return (
            FeatureSpec(
                name=self.target_name,
                kind="target",
                width=self.config.n_eigenvalues,
                unit="k (spring-constant units)",
                description=(
                    f"β-GM eigenvalues λ{self.config.n_zero_modes + 1}.."
                    f"λ{self.config.n_zero_modes + self.config.n_eigenvalues} (ascending) of "
                    f"chains={self.chains!r}"
                ),
            ),
        )

    def unavailable_reason(self, context: FeatureContext) -> str | None:
        reason = super().unavailable_reason(context)
        if reason is not None:
            return reason
        value = self._spectrum(context)
        return value if isinstance(value, str) else None

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        value = self._spectrum(context)
        if isinstance(value, str):
            raise FeatureError(value)
        return {self.target_name: value.copy()}

    # ---- helpers --------------------------------------------------------------------
    def chain_selection(self, context: FeatureContext) -> list[str] | None:
        """The chain ids modelled for this context (None: every chain with Cα)."""
        if self.chains == "structure":
            return None
        if self.chains == "query":
            query = context.query
            if hasattr(query, "sides"):
                return [c for side in query.sides for c in side]
            ids = query.chain_ids
            return [ids] if isinstance(ids, str) else [str(c) for c in ids]
        return [self.chains] if isinstance(self.chains, str) else list(self.chains)

    def trace(self, context: FeatureContext) -> CaTrace:
        """The Cα trace of the modelled chains (EnmError when it cannot be formed)."""
        return ca_trace(context.structure, chain_ids=self.chain_selection(context))

    def _spectrum(self, context: FeatureContext) -> np.ndarray | str:
        key = f"_betagm:{id(self)}"
        if key in context.cache:
            return context.cache[key]
        value: np.ndarray | str
        try:
            trace = self.trace(context)
        except EnmError as exc:
            value = f"module 'betagm': {exc}"
        else:
            if self.max_residues is not None and len(trace) > self.max_residues:
                value = (
                    f"module 'betagm': {len(trace)} Cα nodes exceed max_residues="
                    f"{self.max_residues}; pass BetaGM(max_residues=None) to compute it anyway"
                )
            else:
                value = _cached_eigenvalues(trace, self.config)
        context.cache[key] = value
        return value


def _cached_eigenvalues(trace: CaTrace, config: BetaGMConfig) -> np.ndarray | str:
    key = _cache_key(trace, config)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    value: np.ndarray | str
    try:
        if config.chain_breaks == "raise":
            check_chain_breaks(trace, config.gap_distance)  # names chain and residue numbers
        result = betagm_from_ca(trace.ca, trace.is_glycine, config, segment_ids=trace.chain_ids)
        value = np.array(result.eigenvalues, dtype=np.float64)
        value.flags.writeable = False
    except EnmError as exc:
        value = f"module 'betagm': {exc}"
    _cache[key] = value
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return value
