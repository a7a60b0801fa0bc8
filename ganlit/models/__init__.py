"""One LightningModule per paper, all built on :class:`ganlit.models.base.GANModule`."""

from ganlit._lazy import lazy_exports

_EXPORTS = {
    "GANModule": ".base",
    "GAN": ".gan",
    "CGAN": ".cgan",
    "Pix2Pix": ".pix2pix",
    "PAN": ".pan",
    "CycleGAN": ".cyclegan",
    "DiscoGAN": ".discogan",
    "StarGAN": ".stargan",
    "PairedCycleGAN": ".paired_cyclegan",
    "StyleTransfer": ".style_transfer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
