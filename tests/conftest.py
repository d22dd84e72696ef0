import os
import random

import numpy as np
import pytest
import torch

# Unit tests run on the CPU with one thread, whatever the machine has: the numbers they compare are
# CPU numbers, and tiny models are fastest single-threaded.
os.environ.setdefault("NMA_DEVICE", "cpu")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_global_generators():
    """Every test starts from the same global RNG state, so no test depends on which ran before it."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 -- seeding the legacy global RNG is the point here
    torch.manual_seed(0)
