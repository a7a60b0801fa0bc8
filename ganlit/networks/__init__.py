"""Pure ``nn.Module`` building blocks, one file per architecture family (no Lightning here)."""

from ganlit._lazy import lazy_exports

_EXPORTS = {
    "init_weights": ".init",
    "get_norm_layer": ".norm",
    "MLPGenerator": ".mlp",
    "MaxoutDiscriminator": ".mlp",
    "ConditionalMLPGenerator": ".mlp",
    "ConditionalMaxoutDiscriminator": ".mlp",
    "DCGANGenerator": ".dcgan",
    "DCGANDiscriminator": ".dcgan",
    "UnetGenerator": ".unet",
    "ResnetGenerator": ".resnet",
    "PatchDiscriminator": ".patchgan",
    "PixelDiscriminator": ".patchgan",
    "DiscoGANGenerator": ".discogan",
    "DiscoGANDiscriminator": ".discogan",
    "PANDiscriminator": ".pan",
    "StarGANGenerator": ".stargan",
    "StarGANDiscriminator": ".stargan",
    "MakeupTransferGenerator": ".makeup",
    "MakeupRemovalGenerator": ".makeup",
    "StyleDiscriminator": ".makeup",
    "VGG19Features": ".vgg",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
