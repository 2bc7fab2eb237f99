"""The 20 standard amino acids and their physico-chemical properties, as arrays.

All tables are indexed by the amino-acid index ``0..19`` in the order
``A C D E F G H I K L M N P Q R S T V W Y`` (alphabetical by one-letter code, as
DeepRank2's ``res_type``). Values follow ``shared/spec/deeprank2.md`` §3.2:

* ``CHARGE``: formal charge at neutral pH (HIS counted as +1, as DeepRank2).
* ``POLARITY``: 0 nonpolar, 1 polar, 2 negative, 3 positive.
* ``SIZE``: number of heavy atoms in the side chain.
* ``MASS``: average residue mass in Da (amino acid minus water).
* ``PI``: isoelectric point.
* ``HB_DONORS`` / ``HB_ACCEPTORS``: side-chain hydrogen-bond donor / acceptor counts.
"""

from __future__ import annotations

import numpy as np

ONE_LETTER: tuple[str, ...] = tuple("ACDEFGHIKLMNPQRSTVWY")
THREE_LETTER: tuple[str, ...] = (
    "ALA", "CYS", "ASP", "GLU", "PHE", "GLY", "HIS", "ILE", "LYS", "LEU",
    "MET", "ASN", "PRO", "GLN", "ARG", "SER", "THR", "VAL", "TRP", "TYR",
)  # fmt: skip
NAMES: tuple[str, ...] = (
    "Alanine", "Cysteine", "Aspartate", "Glutamate", "Phenylalanine", "Glycine",
    "Histidine", "Isoleucine", "Lysine", "Leucine", "Methionine", "Asparagine",
    "Proline", "Glutamine", "Arginine", "Serine", "Threonine", "Valine",
    "Tryptophan", "Tyrosine",
)  # fmt: skip
NUM_AMINO_ACIDS = 20

POLARITY_NAMES: tuple[str, ...] = ("nonpolar", "polar", "negative", "positive")
NONPOLAR, POLAR, NEGATIVE, POSITIVE = 0, 1, 2, 3

CHARGE = np.array([0, 0, -1, -1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=np.float64)
POLARITY = np.array([0, 1, 2, 2, 0, 0, 3, 0, 3, 0, 0, 1, 0, 1, 3, 1, 1, 0, 0, 1], dtype=np.int64)
SIZE = np.array([1, 2, 4, 5, 7, 0, 6, 4, 5, 4, 4, 4, 3, 5, 7, 2, 3, 3, 10, 8], dtype=np.float64)
MASS = np.array(
    [71.1, 103.2, 115.1, 129.1, 147.2, 57.1, 137.1, 113.2, 128.2, 113.2,
     131.2, 114.1, 97.1, 128.1, 156.2, 87.1, 101.1, 99.1, 186.2, 163.2],
    dtype=np.float64,
)  # fmt: skip
PI = np.array(
    [6.00, 5.07, 2.77, 3.22, 5.48, 5.97, 7.59, 6.02, 9.74, 5.98,
     5.74, 5.41, 6.30, 5.65, 10.76, 5.68, 5.60, 5.96, 5.89, 5.66],
    dtype=np.float64,
)  # fmt: skip
HB_DONORS = np.array([0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 2, 0, 2, 5, 1, 1, 0, 1, 1], dtype=np.float64)
HB_ACCEPTORS = np.array(
    [0, 0, 4, 4, 0, 0, 1, 0, 0, 0, 0, 2, 0, 2, 0, 2, 2, 0, 0, 1], dtype=np.float64
)

#: BLAST/PSSM column order (alphabetical by three-letter code) as indices into our order.
PSSM_ORDER: tuple[str, ...] = tuple("ARNDCQEGHILKMFPSTWYV")
PSSM_COLUMN_OF = np.array([PSSM_ORDER.index(c) for c in ONE_LETTER], dtype=np.int64)

#: Non-standard residue names mapped onto a standard parent (modified residues,
#: force-field protonation names). Other non-amino-acid residues are excluded from graphs.
NONSTANDARD_PARENT: dict[str, str] = {
    "MSE": "MET", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HID": "HIS", "HIE": "HIS",
    "HIP": "HIS", "HIS1": "HIS", "HISD": "HIS", "HISE": "HIS", "HISH": "HIS", "CYX": "CYS",
    "CYM": "CYS", "CYF": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS", "ARN": "ARG",
    "SEP": "SER", "TPO": "THR", "PTR": "TYR", "MLY": "LYS", "M3L": "LYS", "ALY": "LYS",
    "HYP": "PRO", "TYS": "TYR", "CSO": "CYS", "CSD": "CYS", "KCX": "LYS", "SEC": "CYS",
    "PYL": "LYS", "MLZ": "LYS",
}  # fmt: skip

_INDEX: dict[str, int] = {}
for _i, (_one, _three, _name) in enumerate(zip(ONE_LETTER, THREE_LETTER, NAMES, strict=True)):
    _INDEX[_one] = _i
    _INDEX[_three] = _i
    _INDEX[_name.upper()] = _i


def amino_acid_index(code: str) -> int:
    """Return the index (0..19) of an amino acid given as 1-letter, 3-letter code or name.

    Non-standard residue names listed in :data:`NONSTANDARD_PARENT` map to their parent.

    Raises
    ------
    ValueError
        If ``code`` is not a known amino acid.
    """
    key = str(code).strip().upper()
    key = NONSTANDARD_PARENT.get(key, key)
    try:
        return _INDEX[key]
    except KeyError:
        raise ValueError(
            f"unknown amino acid {code!r}; use a one-letter code, a three-letter code or a name"
        ) from None


def residue_name_indices(names: np.ndarray) -> np.ndarray:
    """Map an array of (standardised) three-letter residue names to amino-acid indices.

    Only three-letter codes match (an ion named ``K`` or a nucleotide ``A`` is not an amino
    acid); anything else gives -1.

    Parameters
    ----------
    names : ndarray of str, shape (n,)

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    uniq, inverse = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    lut = np.array(
        [THREE_LETTER.index(str(u)) if str(u) in THREE_LETTER else -1 for u in uniq], dtype=np.int64
    )
    return lut[inverse].reshape(-1) if len(uniq) else np.zeros(0, dtype=np.int64)
