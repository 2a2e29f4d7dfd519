"""``python -m nodes.catalog add <model_id>``: the command line of spec/catalog.py."""
import sys

from .spec.catalog import main

if __name__ == "__main__":
    sys.exit(main())
