import pytest
import torch

from ecabench import registry


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def clean_plugins():
    """Plugins loaded inside a test are forgotten afterwards."""
    registry.reset_plugins()
    yield
    registry.reset_plugins()
