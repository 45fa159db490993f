import os

import pytest
import torch

# Tests share 2 cores with a parallel runner: keep torch to one thread per worker.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    """Keep MNIST-1D's cache inside the test session unless the user set one."""
    if "DEPTHLAB_CACHE" not in os.environ:
        os.environ["DEPTHLAB_CACHE"] = str(tmp_path_factory.mktemp("depthlab-cache"))
    yield


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)
