"""Research experiments built on the public API of ``deeprank_like`` (not part of the package).

Run from a source checkout (the repository root on ``sys.path``), e.g.
``python -m experiments.betagm --help``. ``pip install`` does not install this folder.
"""
