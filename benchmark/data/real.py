"""The paper's three real datasets: importing this module registers all of them in DATASETS,
in the paper's order."""
from . import esc50  # noqa: F401  (each module registers itself on import)
from . import us8k  # noqa: F401
from . import audiomnist  # noqa: F401
