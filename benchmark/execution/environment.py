"""Provenance recorded with every result: git commit, package versions, device, host, and on CUDA the
stack that computed it (torch's CUDA and cuDNN, the driver, which GPU: name, UUID, MIG slice)."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch

PACKAGES = ("torch", "torchaudio", "timm", "numpy", "scipy", "soundfile", "wandb")
REPO = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; valid devices: auto, cpu, cuda")
    return torch.device(name)


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name: float results on CPU differ between microarchitectures (other kernels),
    so records must say which CPU made them. platform.processor() is empty on Linux."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_model(device: torch.device) -> str:
    """The device without the thread count: 'cuda:NAME' or 'cpu:MODEL (ARCH, N cores)'."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{cpu_model()} ({platform.machine()}, {os.cpu_count()} cores)"


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return device_model(device)
    return f"{device_model(device)} x{torch.get_num_threads()} threads"


@dataclass(frozen=True)
class GpuFacts:
    """The GPU a CUDA cell ran on, as this process sees it."""

    index: int  # torch's device index in this process
    name: str
    uuid: str | None  # as nvidia-smi prints it (GPU-... or MIG-...): the physical device, whatever the index
    mig: str | None  # the MIG instance (profile or MIG-... id) when the device is a MIG slice, else None
    total_memory_mb: float
    visible_devices: str | None  # CUDA_VISIBLE_DEVICES of the process (how index 0 maps to a physical GPU)


@dataclass(frozen=True)
class CudaFacts:
    """The CUDA stack of a record: torch's build, the driver, the GPU (driver and GPU None on CPU)."""

    torch_cuda: str | None  # torch.version.cuda: the CUDA toolkit torch was built with (None: CPU-only build)
    cudnn: int | None  # torch.backends.cudnn.version(), e.g. 91002
    driver: str | None
    gpu: GpuFacts | None

    def as_dict(self) -> dict:
        return asdict(self)


def cuda_facts(device: torch.device) -> CudaFacts:
    """What a record says about CUDA; on a CPU cell no driver or GPU is asked for. Never raises."""
    gpu = _gpu_facts(device) if device.type == "cuda" else None
    return CudaFacts(torch.version.cuda, _cudnn_version(), driver_version() if gpu else None, gpu)


def _cudnn_version() -> int | None:
    try:
        return torch.backends.cudnn.version()
    except Exception:  # noqa: BLE001 - a broken cuDNN install must not fail a record
        return None


def _gpu_facts(device: torch.device) -> GpuFacts | None:
    try:
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
    except Exception:  # noqa: BLE001
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    mig = _mig_instance(props.name, visible, index)
    raw = getattr(props, "uuid", None)
    uuid = None if raw is None else str(raw)
    if uuid and not uuid.startswith(("GPU-", "MIG-")):
        uuid = ("MIG-" if mig else "GPU-") + uuid
    return GpuFacts(index, props.name, uuid, mig, props.total_memory / 2**20, visible)


def _mig_instance(name: str, visible: str | None, index: int) -> str | None:
    """A MIG slice shows in its name ("NVIDIA A100-SXM4-40GB MIG 1g.5gb") or in CUDA_VISIBLE_DEVICES (MIG-...)."""
    if " MIG " in f" {name} ":
        return name.split(" MIG ", 1)[1].strip() or "MIG"
    entries = [e.strip() for e in (visible or "").split(",") if e.strip()]
    if index < len(entries) and entries[index].startswith("MIG-"):
        return entries[index]
    return None


@lru_cache(maxsize=1)
def driver_version() -> str | None:
    """The NVIDIA driver's version: from NVML when pynvml is installed, else `nvidia-smi`; None if neither answers."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # noqa: BLE001 - not installed, or no NVML on this host
        pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    versions = [line.strip() for line in out.splitlines() if line.strip()]
    return versions[0] if versions else None
