"""PairedCycleGAN: Chang, Lu, Yu & Finkelstein (2018), "PairedCycleGAN: Asymmetric Style Transfer for
Applying and Removing Makeup" (CVPR)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit import losses
from ganlit.histmatch import match_histograms
from ganlit.models.base import GANModule
from ganlit.models.draws import ItemDraws
from ganlit.models.inference import ExportedNetwork, ImageNetwork, Inference, Input
from ganlit.networks.makeup import MakeupRemovalGenerator, MakeupTransferGenerator, StyleDiscriminator
from ganlit.networks.patchgan import PatchDiscriminator
from ganlit.regions import crop_boxes, paste_boxes, region_boxes
from ganlit.utils.modes import evaluating

# Channel order of the batch's ``x_regions`` / ``y_regions`` (ganlit.data.makeup.REGION_NAMES).
REGIONS = ("lips", "skin", "eyes")
# Histogram matching order for the positive pair: where regions overlap (eye boxes lie on skin), the
# smaller region, matched later, wins.
MATCH_ORDER = (1, 0, 2)
FACE = "face"  # the single part of whole-face training


class PairedCycleGAN(GANModule):
    """PairedCycleGAN (Chang et al., 2018): asymmetric makeup transfer G(x, y) and removal F(y).

    X are faces without makeup, Y faces with makeup. G: (x, y_ref) -> x wearing y_ref's makeup (two input
    streams); F: y -> y without makeup (one input; many-to-one). Losses (paper Sec. 3, L1 norms):

    * adversarial: L_G = E[log D_Y(y)] + E[log(1 - D_Y(G(x, y)))], L_F = E[log D_X(x)] + E[log(1 - D_X(F(y)))]
      (written on logits with ``loss``; LSGAN by default as in CycleGAN);
    * identity: L_I = E[|| F(G(x, y)) - x ||_1]  (removing the applied makeup gives back x);
    * style: L_S = E[|| G(F(y), G(x, y)) - y ||_1]  (G(x, y) carries y's makeup back onto y's bare face);
    * makeup (style discriminator D_S on a pair of faces): L_P = E[log D_S(y, W(x, y))] + E[log(1 - D_S(y, G(x, y)))],
      where the positive W(x, y) is y's makeup carried onto x's face.

    G minimises ``lambda_adv * (L_G + L_F) + lambda_makeup * L_P + lambda_identity * L_I + lambda_style * L_S``;
    D_X, D_Y, D_S maximise their terms (each D loss halved, as in CycleGAN).

    The positive pair: the paper warps y onto x with facial landmarks. A batch that carries that warp as
    ``y_on_x`` gives W(x, y) directly (the digits world does: x's digit drawn in y's style). Otherwise (the MT
    set has no landmarks) W(x, y) is region-wise colour histogram matching of y's colours onto x (skin, then
    lips, then eyes; ``ganlit.histmatch``), as BeautyGAN's makeup loss does: it needs only the batch's masks,
    and carries colour but not texture.

    Schedule: with ``pretrain_removal_epochs`` > 0, the first epochs train only F and D_X, CycleGAN-style in
    one direction: ``lambda_adv * L_F + lambda_pretrain_identity * E[|| F(x) - x ||_1]`` (CycleGAN's identity
    mapping term: a bare face is a fixed point of removal). There is no forward generator in that phase, so
    no cycle term; G, D_Y and D_S start with the next epoch.

    Per-region training (``regions``): the paper trains separate networks for eyes, lips and skin on crops
    and blends the results. With ``regions=["lips", "skin", "eyes"]`` (any subset) every listed region gets
    its own G, F, D_X, D_Y, D_S (keys ``G_lips``, ``X_lips``, ...); every loss above is computed on the
    region's bounding-box crop (from the batch masks, resampled to ``crop_size``), and :meth:`translate`
    pastes each region's output back into its box and blends it into the source through the region mask,
    in the listed order. Pixels outside every region keep the source. Translation then needs the masks.
    Without ``regions`` one pair of networks handles the whole face (keys ``G``, ``F``, ``X``, ``Y``, ``S``).
    :meth:`build_generator` (G, F) and :meth:`build_discriminator` (D_X, D_Y and the style discriminator D_S)
    build each network from its key: override one to try another network.

    Defaults: CycleGAN's networks, optimizer (Adam 2e-4, betas 0.5/0.999, G phase first) and LSGAN; the
    loss weights of a reimplementation (adversarial 0.1, identity/style 1.0) [unverified against the paper].

    Args:
        image_size, channels: image geometry (linked from the data module by the CLI).
        ngf, ndf: widths of the generators and of the discriminators.
        n_blocks_g, n_blocks_f: residual blocks of G and of F.
        n_layers_d, n_layers_s: PatchGAN depth of D_X/D_Y and of D_S.
        norm: normalisation of every network.
        loss: adversarial loss on logits (``ganlit.losses``).
        lambda_adv: weight of the adversarial terms of G and F.
        lambda_makeup: weight of G's term against the style discriminator D_S.
        lambda_identity, lambda_style: weights of L_I and L_S.
        lambda_pretrain_identity: weight of || F(x) - x || during removal pre-training.
        pretrain_removal_epochs: epochs at the start that train only F and D_X.
        regions: train per face region on crops (names from ``lips``, ``skin``, ``eyes``), or None for the whole face.
        crop_size: side of the region crops (default ``image_size // 2``; a multiple of 4).
        num_samples: faces in the sample grid (rows: source, reference, result, removal).
        **kwargs: the :class:`GANModule` training arguments (learning rates, cadence, schedule, EMA, ...).
    """

    paper = {"title": "PairedCycleGAN: Asymmetric Style Transfer for Applying and Removing Makeup",
             "authors": "Huiwen Chang, Jingwan Lu, Fisher Yu, Adam Finkelstein",
             "year": "2018",
             "venue": "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)",
             "url": "",
             "key": "chang2018pairedcyclegan"}

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        n_blocks_g: int = 6,
        n_blocks_f: int = 6,
        n_layers_d: int = 3,
        n_layers_s: int = 3,
        norm: str = "instance",
        loss: losses.GANMode = "lsgan",
        lambda_adv: float = 0.1,
        lambda_makeup: float = 0.1,
        lambda_identity: float = 1.0,
        lambda_style: float = 1.0,
        lambda_pretrain_identity: float = 1.0,
        pretrain_removal_epochs: int = 0,
        regions: Optional[list[str]] = None,
        crop_size: Optional[int] = None,
        num_samples: int = 8,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        order: str = "g_first",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas=betas, order=order, **kwargs)
        if regions is not None:
            bad = [r for r in regions if r not in REGIONS]
            if bad or not regions or len(set(regions)) != len(regions):
                raise ValueError(f"regions={regions!r}: expected distinct names from {list(REGIONS)}, or None")
        self.parts: list[str] = [FACE] if regions is None else list(regions)
        self.crop_size = crop_size if crop_size is not None else max(4, image_size // 2 // 4 * 4)
        if regions is not None and self.crop_size % 4:
            raise ValueError(f"crop_size={self.crop_size}: expected a multiple of 4 (the generators downsample twice)")
        self.image_size, self.channels, self.loss_mode = image_size, channels, loss
        self.lambda_adv, self.lambda_makeup = lambda_adv, lambda_makeup
        self.lambda_identity, self.lambda_style = lambda_identity, lambda_style
        self.lambda_pretrain_identity = lambda_pretrain_identity
        self.pretrain_removal_epochs = pretrain_removal_epochs
        self.num_samples = num_samples
        self.ngf, self.ndf, self.n_blocks_g, self.n_blocks_f = ngf, ndf, n_blocks_g, n_blocks_f
        self.n_layers_d, self.n_layers_s, self.norm = n_layers_d, n_layers_s, norm
        self.generators, self.discriminators = nn.ModuleDict(), nn.ModuleDict()
        for part in self.parts:  # in this order: each network's initial weights are drawn in turn
            for net in "GF":
                self.generators[self.key(net, part)] = self.build_generator(self.key(net, part))
            for net in "XYS":
                self.discriminators[self.key(net, part)] = self.build_discriminator(self.key(net, part))
        for name in ("x", "y", "x_regions", "y_regions"):
            self.register_buffer(f"fixed_{name}", torch.empty(0))

    # ----------------------------------------------------------------- networks (override to change one)
    def build_generator(self, key: str) -> nn.Module:
        """``generators[key]``, ``key`` = :meth:`key` (net, part): ``G`` applies makeup, G(x, y_ref) -> x wearing
        y_ref's makeup; ``F`` removes it, F(y) -> y bare. Images in [-1, 1]."""
        if key.split("_")[0] == "G":
            return MakeupTransferGenerator(self.channels, self.ngf, self.n_blocks_g, self.norm)
        return MakeupRemovalGenerator(self.channels, self.ngf, self.n_blocks_f, self.norm)

    def build_discriminator(self, key: str) -> nn.Module:
        """``discriminators[key]``: ``X`` / ``Y`` judge bare / made-up faces (patch logits), ``S`` the style
        discriminator D_S judges a pair (reference, result) of faces."""
        if key.split("_")[0] == "S":
            return StyleDiscriminator(self.channels, self.ndf, self.n_layers_s, self.norm)
        return PatchDiscriminator(self.channels, self.ndf, self.n_layers_d, self.norm)

    @staticmethod
    def key(net: str, part: str) -> str:
        """ModuleDict key of network ``net`` (G, F, X, Y, S) for ``part`` (``face`` or a region)."""
        return net if part == FACE else f"{net}_{part}"

    @property
    def pretraining(self) -> bool:
        """True while only F and D_X train (the first ``pretrain_removal_epochs`` epochs)."""
        return self.current_epoch < self.pretrain_removal_epochs

    # ----------------------------------------------------------------- crops and masks
    def _masks(self, batch: dict, name: str, like: Tensor) -> Tensor:
        masks = batch.get(name)
        if masks is None:
            if self.parts != [FACE]:
                raise KeyError(f"PairedCycleGAN(regions={self.parts}) needs the batch key {name!r} (region masks)")
            return like.new_ones(like.size(0), 1, *like.shape[-2:])  # one region: the whole image
        return masks.to(like.dtype)

    def _crop(self, images: Tensor, masks: Tensor, part: str) -> Tensor:
        if part == FACE:
            return images
        return crop_boxes(images, region_boxes(masks[:, REGIONS.index(part)]), self.crop_size)

    # ----------------------------------------------------------------- losses
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        x, y = batch["x"], batch["y"]
        xm, ym = self._masks(batch, "x_regions", x), self._masks(batch, "y_regions", y)
        pretraining = self.pretraining
        positive = None
        if not pretraining and "y_on_x" in batch:  # the paper's warp of y onto x, where the data provides it
            positive = batch["y_on_x"]
        elif not pretraining:
            order = MATCH_ORDER if xm.size(1) == len(REGIONS) else None
            positive = match_histograms(x.detach(), y.detach(), xm, ym, order=order)
        out: dict[str, Tensor] = {}
        for part in self.parts:
            G, Fr = self.generators[self.key("G", part)], self.generators[self.key("F", part)]
            xp, yp = self._crop(x, xm, part), self._crop(y, ym, part)
            out[f"{part}/x"], out[f"{part}/y"] = xp, yp
            out[f"{part}/fake_x"] = Fr(yp)
            if pretraining:
                out[f"{part}/idt_x"] = Fr(xp)
                continue
            fake_y = G(xp, yp)
            out[f"{part}/fake_y"] = fake_y
            out[f"{part}/positive"] = self._crop(positive, xm, part)
            out[f"{part}/rec_x"] = Fr(fake_y)
            out[f"{part}/rec_y"] = G(out[f"{part}/fake_x"], fake_y)
        return out

    def _d(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * losses.d_loss(self.loss_mode, real, fake)

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        total, logs = 0.0, {}
        for part in self.parts:
            d = {n: self.discriminators[self.key(n, part)] for n in "XYS"}
            xp, yp = out[f"{part}/x"], out[f"{part}/y"]
            terms = {"d_x": self._d(d["X"](xp), d["X"](out[f"{part}/fake_x"].detach()))}
            if not self.pretraining:
                fake_y = out[f"{part}/fake_y"].detach()
                terms["d_y"] = self._d(d["Y"](yp), d["Y"](fake_y))
                terms["d_s"] = self._d(d["S"](yp, out[f"{part}/positive"]), d["S"](yp, fake_y))
            total = total + sum(terms.values())
            logs.update({self._log_name(k, part): v for k, v in terms.items()})
        logs["d_loss"] = total
        return total, logs

    def generator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        total, logs = 0.0, {}
        for part in self.parts:
            d = {n: self.discriminators[self.key(n, part)] for n in "XYS"}
            xp, yp, fake_x = out[f"{part}/x"], out[f"{part}/y"], out[f"{part}/fake_x"]
            adv_f = losses.g_loss(self.loss_mode, d["X"](fake_x))
            if self.pretraining:
                idt = F.l1_loss(out[f"{part}/idt_x"], xp)
                terms = {"g_adv_f": adv_f, "g_pretrain_identity": idt}
                loss = self.lambda_adv * adv_f + self.lambda_pretrain_identity * idt
            else:
                fake_y = out[f"{part}/fake_y"]
                terms = {
                    "g_adv_g": losses.g_loss(self.loss_mode, d["Y"](fake_y)),
                    "g_adv_f": adv_f,
                    "g_makeup": losses.g_loss(self.loss_mode, d["S"](yp, fake_y)),
                    "g_identity": F.l1_loss(out[f"{part}/rec_x"], xp),
                    "g_style": F.l1_loss(out[f"{part}/rec_y"], yp),
                }
                loss = (self.lambda_adv * (terms["g_adv_g"] + adv_f) + self.lambda_makeup * terms["g_makeup"]
                        + self.lambda_identity * terms["g_identity"] + self.lambda_style * terms["g_style"])
            total = total + loss
            logs.update({self._log_name(k, part): v for k, v in terms.items()})
        logs["g_loss"] = total
        return total, logs

    @staticmethod
    def _log_name(name: str, part: str) -> str:
        return name if part == FACE else f"{name}_{part}"

    # ----------------------------------------------------------------- translation
    def inference(self) -> Inference:
        """AtoB applies the makeup of a ``reference`` face; BtoA (or ``remove``) removes makeup; eval mode."""
        return super().inference().replace(channels=self.channels, directions=("AtoB", "BtoA"),
                                           options=("reference", "remove"))

    def inference_network(self, direction: Optional[str] = None) -> nn.Module:
        """G (makeup transfer, two inputs) for AtoB, F (removal) for BtoA, of a whole-face model."""
        if self.parts != [FACE]:
            raise ValueError(f"{type(self).__name__}(regions={self.parts}) crops and blends face regions with masks; "
                             "export supports whole-face models (regions: null)")
        return self.sampling_nets()["F" if direction == "BtoA" else "G"]

    def image_networks(self) -> list[ImageNetwork]:
        image = Input("x", "image", self.channels)
        found = []
        for part in self.parts:
            g, f, x, y, s = (self.key(n, part) for n in "GFXYS")
            found += [ImageNetwork(f"generators[{g!r}]", self.generators[g], True, (image, image), direction="AtoB"),
                      ImageNetwork(f"generators[{f!r}]", self.generators[f], True, (image,), direction="BtoA")]
            found += [ImageNetwork(f"discriminators[{k!r}]", self.discriminators[k], False, (image,) * n)
                      for k, n in ((x, 1), (y, 1), (s, 2))]
        return found

    def export_network(self, direction: Optional[str] = None, eval_mode: bool = False) -> ExportedNetwork:
        """AtoB: ``G(x, reference)`` applies the reference's makeup; BtoA: ``F(y)`` removes makeup. Eval mode."""
        exported = super().export_network(direction, eval_mode)
        c = self.channels
        if direction == "BtoA":
            inputs = (Input("y", "image", c, "faces with makeup"),)
        else:
            inputs = (Input("x", "image", c, "faces without makeup"),
                      Input("reference", "image", c, "faces whose makeup is applied to x", option="reference"))
        return replace(exported, inputs=inputs)

    def forward(self, x: Tensor, reference: Tensor) -> Tensor:
        """Makeup transfer G(x, reference) with the training networks (whole-face models)."""
        return self._per_part("G", self.generators, x, None, reference)

    def _per_part(self, net: str, nets: nn.Module, x: Tensor, xm: Optional[Tensor], ref: Optional[Tensor] = None,
               rm: Optional[Tensor] = None) -> Tensor:
        """G(x, ref) (``net="G"``) or F(x) (``"F"``); region models run each region's network on its crops, paste
        the result back into the box and blend it into x through the region mask, in the listed order."""
        if self.parts == [FACE]:
            return nets[net](x) if ref is None else nets[net](x, ref)
        out = x
        for part in self.parts:
            k = REGIONS.index(part)
            bx = region_boxes(xm[:, k])
            inputs = [crop_boxes(x, bx, self.crop_size)]
            if ref is not None:
                inputs.append(crop_boxes(ref, region_boxes(rm[:, k]), self.crop_size))
            crop = nets[self.key(net, part)](*inputs)
            m = xm[:, k:k + 1]
            out = out * (1 - m) + paste_boxes(crop, bx, *x.shape[-2:]) * m
        return out

    @torch.no_grad()
    def translate(
        self,
        x: Tensor,
        direction: str = "AtoB",
        reference: Optional[Tensor] = None,
        remove: bool = False,
        x_regions: Optional[Tensor] = None,
        reference_regions: Optional[Tensor] = None,
    ) -> Tensor:
        """Apply the makeup of ``reference`` to ``x`` (``AtoB``), or remove the makeup of ``x`` (``remove=True``
        or ``BtoA``). Images in [-1, 1]: ``x`` [N, C, H, W]; ``reference`` [1 or N, C, H', W'] (resized to x's
        size). Region models also need the masks [N, 3, H, W] (lips, skin, eyes) of ``x`` and of the reference
        (e.g. from ``ganlit.data.makeup.regions_from_labels``). Uses the EMA generators when EMA is on."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction={direction!r}: expected 'AtoB' (apply makeup) or 'BtoA' (remove makeup)")
        regional = self.parts != [FACE]
        nets = self.sampling_nets()
        with evaluating(nets):
            if remove or direction == "BtoA":
                if regional and x_regions is None:
                    raise ValueError(f"PairedCycleGAN(regions={self.parts}): removal needs x_regions [N, 3, H, W]")
                return self._per_part("F", nets, x, x_regions)
            if reference is None:
                raise ValueError("makeup transfer needs a reference face: translate(x, reference=IMG) "
                                 "(ganlit translate --reference IMG), or remove=True to remove makeup")
            if regional and (x_regions is None or reference_regions is None):
                raise ValueError(f"PairedCycleGAN(regions={self.parts}) applies makeup per region: pass x_regions "
                                 "and reference_regions [N, 3, H, W] (lips, skin, eyes)")
            reference = reference.to(x)
            if reference.shape[-2:] != x.shape[-2:]:
                reference = F.interpolate(reference, size=x.shape[-2:], mode="bilinear", align_corners=False)
                if reference_regions is not None:
                    reference_regions = F.interpolate(reference_regions.to(x), size=x.shape[-2:], mode="nearest")
            reference = reference.expand(x.size(0), -1, -1, -1)
            if reference_regions is not None:
                reference_regions = reference_regions.to(x).expand(x.size(0), -1, -1, -1)
            return self._per_part("G", nets, x, x_regions, reference, reference_regions)

    # ----------------------------------------------------------------- samples and evaluation
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.fixed_x.numel() == 0:  # the sample grid follows the first faces seen
            n = min(self.num_samples, batch["x"].size(0))
            self.fixed_x, self.fixed_y = batch["x"][:n].detach().clone(), batch["y"][:n].detach().clone()
            if "x_regions" in batch:
                self.fixed_x_regions = batch["x_regions"][:n].detach().clone().float()
                self.fixed_y_regions = batch["y_regions"][:n].detach().clone().float()

    sample_rows = ("x", "y", "G(x, y)", "F(y)")

    def sample_images(self) -> Optional[tuple[Tensor, int]]:
        """Rows: source x, reference y, G(x, y), F(y); images in [0, 1]."""
        if self.fixed_x.numel() == 0:
            return None
        xm = self.fixed_x_regions if self.fixed_x_regions.numel() else None
        ym = self.fixed_y_regions if self.fixed_y_regions.numel() else None
        fake_y = self.translate(self.fixed_x, reference=self.fixed_y, x_regions=xm, reference_regions=ym)
        fake_x = self.translate(self.fixed_y, remove=True, x_regions=ym)
        grid = torch.cat([self.fixed_x, self.fixed_y, fake_y, fake_x])
        return (grid.clamp(-1, 1) + 1) / 2, self.fixed_x.size(0)

    def predict_images(self, batch: dict) -> dict[str, Tensor]:
        """``ganlit predict``: transfer and removal of the test pairs (as evaluated); a folder of faces, with no
        reference to take makeup from, gets its makeup removed."""
        if "x" not in batch:
            return {"BtoA": self.translate(batch["image"], remove=True)}
        return super().predict_images(batch)

    @torch.no_grad()
    def evaluation_images(self, batch: dict, draws: Optional[ItemDraws] = None) -> dict[str, tuple[Tensor, Tensor]]:
        """``AtoB``: (real makeup faces, sources wearing their makeup); ``BtoA``: (real bare faces, removals).

        The generators run in eval mode, so ``draws`` is unused: the one random choice, each source's reference, is
        the dataset's (drawn per item by :func:`ganlit.metrics.evaluate_model`)."""
        x, y = batch["x"], batch["y"]
        xm, ym = batch.get("x_regions"), batch.get("y_regions")
        fake_y = self.translate(x, reference=y, x_regions=xm, reference_regions=ym)
        fake_x = self.translate(y, remove=True, x_regions=ym)
        return {"AtoB": (y, fake_y), "BtoA": (x, fake_x)}
