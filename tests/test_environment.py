"""Provenance: a CPU record names the CPU model, core count and torch threads (CPU floats differ between
microarchitectures, so results from two machines must be told apart)."""
import os

import torch

from benchmark.execution.environment import cpu_model, device_description, resolve_device


def test_cpu_description_names_model_cores_and_threads():
    text = device_description(torch.device("cpu"))
    assert text.startswith(f"cpu:{cpu_model()} (")
    assert f"{os.cpu_count()} cores" in text and text.endswith(f"x{torch.get_num_threads()} threads")
    assert cpu_model() and cpu_model() != "unknown"


def test_bad_device_names_the_valid_ones():
    import pytest

    with pytest.raises(ValueError, match="valid devices: auto, cpu, cuda"):
        resolve_device("tpu")
