"""ganlit: the image-generation and image-to-image GAN papers as PyTorch Lightning modules.

The package in layers, lowest first; a module imports only from its own layer and those below it, with no circle
(tests/test_layers.py reads every import with ``ast``):

1. utilities: ``ganlit.utils`` (atomic writing, safe loading, dotted-path import, eval-mode context, the run
   folder), ``errors`` (user errors), ``cache``, ``quiet``, ``fetch``, ``weights``;
2. networks: ``ganlit.networks`` (pure ``nn.Module`` s);
3. model parts: ``losses``, ``pool``, ``histmatch``, ``regions``, ``attributes``, ``sizes``, ``facts``, ``record``,
   ``grids``, ``hub`` (the official weights' networks);
4. models: ``ganlit.models`` (the papers on ``GANModule``, the training loop, the inference contract);
5. data and metrics: ``ganlit.data``, ``ganlit.metrics``;
6. training: ``callbacks``, ``checkpoint``, ``runs``, ``runlock``, ``run_config``, ``progress``, ``ddp``, ``wandb_run``;
7. api and sharing: ``api`` (``ganlit.load``), ``bundle``, ``card``, ``official_bundle``, ``weights_download``;
8. commands: ``cli``, ``cli_config``, ``ganlit.commands``.
"""

from ganlit._lazy import lazy_exports
from ganlit._version import __version__

_EXPORTS = {
    "load": ".api",
    **{name: ".models" for name in (
        "GANModule", "GAN", "CGAN", "Pix2Pix", "PAN", "CycleGAN", "DiscoGAN", "StarGAN",
        "PairedCycleGAN", "StyleTransfer",
    )},
    **{name: ".data" for name in (
        "MNISTDataModule", "DigitsDataModule", "PairedImageDataModule", "UnpairedImageDataModule",
        "CelebADataModule", "RaFDDataModule", "MakeupDataModule", "ImageFolderDataModule",
    )},
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
