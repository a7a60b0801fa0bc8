import os
import sys
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
# The learning checks follow one seeded training each, and CPU kernels round differently per instruction set (the
# same seed gave 0.83 on AVX-512 and 0.95 on AVX2 in StarGAN's check). Before torch loads, every machine is put on
# the AVX2 kernels of ATen, oneDNN and MKL, which the x86-64 machines the suite runs on share.
for _name, _isa in (("ATEN_CPU_CAPABILITY", "avx2"), ("ONEDNN_MAX_CPU_ISA", "AVX2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2")):
    os.environ.setdefault(_name, _isa)
# The suite runs one pytest worker per core (pyproject's addopts: pytest-xdist); torch on one thread per worker,
# and in the ganlit commands the tests start, keeps two workers from fighting over two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GANLIT_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "ganlit"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own folder: runs, sample grids and outputs never land in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one intra-op thread for the module's tests (and module fixtures), restored after: a CPU kernel's
    sums depend on the thread count, so seeded numbers are the same on every machine, whatever OMP_NUM_THREADS
    says (``-n 0`` runs keep the developer's setting)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory):
    """A TORCH_HOME holding a randomly initialised Inception state dict under the official file name."""
    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    from ganlit.metrics import INCEPTION_FILE

    home = tmp_path_factory.mktemp("torch_home")
    with pytest.MonkeyPatch.context() as mp:
        # Build the architecture without its weights: no download, no load.
        mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: None)
        mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(net.state_dict(), home / "hub" / "checkpoints" / INCEPTION_FILE)
    return home


@pytest.fixture
def resnet_weights(tmp_path):
    """Official CycleGAN generator weights (random values in the official ResNet layout, 1 block, ngf 2)."""
    import torch

    import test_networks_translation as ref

    torch.save(ref.random_state_dict(ref.official_resnet_layout(ngf=2, n_blocks=1), seed=4), tmp_path / "cyc.pth")
    return tmp_path / "cyc.pth"


@pytest.fixture
def stargan_weights(tmp_path):
    """Official StarGAN generator weights (random values in the official layout: conv_dim 4, 3 attributes, 1 block),
    as (path, state dict)."""
    import torch

    import test_networks_translation as ref
    from test_hub import official_stargan_layout

    state = ref.random_state_dict(official_stargan_layout(conv_dim=4, c_dim=3, repeat_num=1), seed=5)
    torch.save(state, tmp_path / "200000-G.ckpt")
    return tmp_path / "200000-G.ckpt", state
