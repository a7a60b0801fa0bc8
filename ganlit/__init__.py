"""ganlit: the image-generation and image-to-image GAN papers as PyTorch Lightning modules."""

from ganlit._lazy import lazy_exports

__version__ = "0.1.0"

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
