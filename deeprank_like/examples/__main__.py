"""``python -m deeprank_like.examples``: print the paths of the example structures."""

from deeprank_like.examples import example_structures

for path in example_structures():
    print(path)
