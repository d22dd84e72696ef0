import os

import torch

# Unit tests run on the CPU with one thread, whatever the machine has: the numbers they compare are
# CPU numbers, and tiny models are fastest single-threaded.
os.environ.setdefault("NMA_DEVICE", "cpu")
torch.set_num_threads(1)
