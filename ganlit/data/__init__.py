"""LightningDataModules, one per dataset family (no networks here)."""

from ganlit._lazy import lazy_exports

_EXPORTS = {
    "MNISTDataModule": ".mnist",
    "DigitsDataModule": ".digits",
    "PairedImageDataModule": ".paired",
    "UnpairedImageDataModule": ".unpaired",
    "CelebADataModule": ".celeba",
    "RaFDDataModule": ".celeba",
    "MakeupDataModule": ".makeup",
    "ImageFolderDataModule": ".folder",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
