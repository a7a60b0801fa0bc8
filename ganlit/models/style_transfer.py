"""Gatys neural style transfer: the pre-GAN baseline, an image optimised against VGG-19 features."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import lightning as L
import torch
from torch import Tensor, nn

from ganlit.networks.vgg import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, VGG19Features

__all__ = ["StyleTransfer", "content_loss", "gram_matrix", "style_loss"]


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrix of eq. 3, ``G_ij = sum_k F_ik F_jk``, unnormalised: ``(B, N, H, W) -> (B, N, N)``."""
    if features.dim() != 4:
        raise ValueError(f"gram_matrix expects features (B, N, H, W), got shape {tuple(features.shape)}")
    flat = features.flatten(2)  # (B, N, M), M = H * W positions
    return flat @ flat.transpose(1, 2)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Eq. 1: ``1/2 sum_ij (F_ij - P_ij)^2`` (summed over the batch)."""
    return 0.5 * (features - target).pow(2).sum()


def style_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    """Eq. 4: ``E_l = 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2`` for one layer (summed over the batch).

    ``target_gram`` is the style image's Gram matrix divided by *its* number of positions, ``A / M_a``,
    so a style image of another size is compared fairly; when both images have ``M`` positions this
    is exactly eq. 4, since ``(G - A)^2 / M^2 = (G/M - A/M)^2``.
    """
    n, m = features.shape[1], features.shape[2] * features.shape[3]
    return (gram_matrix(features) / m - target_gram).pow(2).sum() / (4 * n**2)


class StyleTransfer(L.LightningModule):
    """Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.

    A generated image ``x`` is optimised (it is the only parameter) so that its VGG-19 features
    ``F^l`` match those of the content image ``P^l`` and its Gram matrices ``G^l`` match those of the
    style image ``A^l``:

    - content loss (eq. 1): ``L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2`` at ``relu4_2``;
    - Gram matrix (eq. 3): ``G^l_ij = sum_k F^l_ik F^l_jk``;
    - style loss (eqs. 4-5): ``E_l = 1/(4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2`` and
      ``L_style = sum_l w_l E_l`` over ``relu1_1 .. relu5_1``, ``w_l = 1/5`` by default;
    - total (eq. 7): ``L = alpha * L_content + beta * L_style`` (``content_weight``, ``style_weight``).

    VGG-19 uses average pooling and is frozen; features are taken after the ReLU (see
    :class:`~ganlit.networks.vgg.VGG19Features`). The paper starts from white noise and runs L-BFGS.

    Several style images are mixed by their weights: the target Gram matrices are blended,
    ``A = sum_s w_s A_s`` with ``sum_s w_s = 1``. Because the loss is quadratic in ``G``, this has the
    same gradient as ``sum_s w_s E_l(A_s)``, but its minimum is 0, so losses stay comparable.

    Default weights: the paper's ratio ``alpha/beta = 1e-3 .. 1e-4`` was stated for Caffe's VGG with
    0-255 inputs. torchvision's ImageNet normalisation makes features about 255 * 0.226 ~ 58 times
    smaller; content loss scales with the square of that and style loss with its fourth power, so the
    paper's range becomes ``beta/alpha`` of about 3e6 .. 3e7 here. The default 1e7 is that scale
    argument, not a tuned value: adjust ``style_weight`` per image pair.

    Lightning: the optimised tensor is one image, there is no dataset or epoch, and L-BFGS needs a
    closure that re-evaluates the loss; a ``Trainer`` would add nothing but ceremony, so
    :meth:`stylize` is a plain loop. Being a ``LightningModule`` buys the hyperparameter record
    (``self.hparams``) and device handling; ``Trainer.fit`` is deliberately unsupported.

    Files: this module reads none itself. With ``features=None`` and ``pretrained=True`` the VGG is
    built by :meth:`VGG19Features.from_pretrained`, which reads ``vgg_weights`` or the torch hub cache
    offline; pass ``features`` to use a network built elsewhere.

    Args:
        content_weight: ``alpha``.
        style_weight: ``beta``.
        content_layers: layers of the content representation (weighted equally).
        style_layers: layers of the style representation.
        style_layer_weights: ``w_l`` per style layer; equal ``1/len(style_layers)`` by default.
        pooling: VGG pooling, ``"avg"`` as in the paper.
        init: start from the content image or from uniform noise in ``[0, 1]`` (the paper).
        optimizer: ``"lbfgs"`` (the paper) or ``"adam"``.
        lr: step size; ``None`` gives 1.0 for L-BFGS and 0.02 (image in ``[0, 1]``) for Adam.
        vgg_weights: path of torchvision's ``vgg19-dcbb9e9d.pth``; ``None`` looks in the torch hub cache.
        pretrained: ``False`` keeps a randomly initialised VGG (tests, experiments); no file is read.
        features: a ready feature network mapping an image to ``{layer: activation}``; overrides the above.
    """

    def __init__(
        self,
        content_weight: float = 1.0,
        style_weight: float = 1e7,
        content_layers: Sequence[str] = GATYS_CONTENT_LAYERS,
        style_layers: Sequence[str] = GATYS_STYLE_LAYERS,
        style_layer_weights: Sequence[float] | None = None,
        pooling: Literal["max", "avg"] = "avg",
        init: Literal["content", "noise"] = "noise",
        optimizer: Literal["lbfgs", "adam"] = "lbfgs",
        lr: float | None = None,
        vgg_weights: str | None = None,
        pretrained: bool = True,
        features: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["features"])
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        if not self.content_layers and not self.style_layers:
            raise ValueError("content_layers and style_layers are both empty: nothing to optimise")
        if style_layer_weights is None:
            style_layer_weights = [1.0 / max(len(self.style_layers), 1)] * len(self.style_layers)
        if len(style_layer_weights) != len(self.style_layers):
            raise ValueError(
                f"style_layer_weights has {len(style_layer_weights)} values for {len(self.style_layers)} "
                f"style layers {self.style_layers}"
            )
        if init not in ("content", "noise"):
            raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
        if optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
        self.style_layer_weights = tuple(float(w) for w in style_layer_weights)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.init = init
        self.optimizer_name = optimizer
        self.lr = lr if lr is not None else (1.0 if optimizer == "lbfgs" else 0.02)
        layers = tuple(dict.fromkeys(self.style_layers + self.content_layers))  # unique, in order
        if features is None:
            if pretrained:
                features = VGG19Features.from_pretrained(vgg_weights, pooling=pooling, layers=layers)
            else:
                features = VGG19Features(pooling=pooling, layers=layers)
        self.features = features

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """VGG features of an image batch in ``[0, 1]``."""
        return self.features(image)

    @torch.no_grad()
    def targets(
        self, content: Tensor, styles: Sequence[Tensor], style_weights: Sequence[float] | None = None
    ) -> dict[str, dict[str, Tensor]]:
        """Content features ``P^l`` and blended, per-position style Gram matrices ``A^l / M``."""
        if not styles and self.style_weight != 0 and self.style_layers:
            raise ValueError("no style image given; pass at least one, or set style_weight=0")
        if style_weights is None:
            style_weights = [1.0] * len(styles)
        if len(style_weights) != len(styles):
            raise ValueError(f"{len(style_weights)} style weights for {len(styles)} style images")
        if any(w < 0 for w in style_weights) or (styles and sum(style_weights) <= 0):
            raise ValueError(f"style weights must be non-negative with a positive sum, got {list(style_weights)}")
        total = float(sum(style_weights))
        content_feats = self(content)
        content_targets = {name: content_feats[name] for name in self.content_layers}
        style_targets: dict[str, Tensor] = {}
        for style, weight in zip(styles, style_weights):
            feats = self(style)
            for name in self.style_layers:
                f = feats[name]
                gram = gram_matrix(f) / (f.shape[2] * f.shape[3]) * (weight / total)
                style_targets[name] = style_targets.get(name, 0) + gram
        return {"content": content_targets, "style": style_targets}

    def loss(self, image: Tensor, targets: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
        """``{"total", "content", "style"}``, with content and style already multiplied by alpha and beta."""
        feats = self(image)
        zero = image.new_zeros(())
        content = sum((content_loss(feats[n], targets["content"][n]) for n in self.content_layers), zero)
        style = zero
        if targets["style"]:
            weighted = zip(self.style_layers, self.style_layer_weights)
            style = sum((w * style_loss(feats[n], targets["style"][n]) for n, w in weighted), zero)
        content, style = self.content_weight * content, self.style_weight * style
        return {"total": content + style, "content": content, "style": style}

    def stylize(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        steps: int = 300,
        style_weights: Sequence[float] | None = None,
        seed: int | None = 0,
        callback: Callable[[int, dict[str, float]], None] | None = None,
    ) -> tuple[Tensor, list[dict[str, float]]]:
        """Optimise an image; return it (clamped to ``[0, 1]``, shaped like ``content``) and the losses.

        Args:
            content: ``(3, H, W)`` or ``(B, 3, H, W)`` in ``[0, 1]``.
            styles: style images ``(3, H', W')`` or ``(1, 3, H', W')`` in ``[0, 1]``; any size.
            steps: L-BFGS iterations (one loss evaluation each) or Adam steps.
            style_weights: mixing weight per style image (normalised to sum 1); equal by default.
            seed: seeds the noise initialisation.
            callback: called as ``callback(evaluation, losses)`` after every loss evaluation.

        Returns:
            The image and one ``{"total", "content", "style"}`` dict per loss evaluation. L-BFGS can
            end early when it cannot improve (zero gradient or step), giving fewer entries than ``steps``.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        squeeze = content.dim() == 3
        content = self._as_batch(content, "content").to(self.device)
        styles = [self._as_batch(s, f"style image {i}").to(self.device) for i, s in enumerate(styles)]
        for i, style in enumerate(styles):
            if style.shape[0] != 1:
                raise ValueError(f"style image {i}: expected one image, got a batch of {style.shape[0]}")
        targets = self.targets(content, styles, style_weights)

        if self.init == "content":
            start = content.clone(memory_format=torch.contiguous_format)  # L-BFGS views grads flat
        else:
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            start = torch.rand(content.shape, generator=generator).to(self.device)
        image = start.requires_grad_(True)
        history: list[dict[str, float]] = []

        def closure() -> Tensor:
            optimizer.zero_grad()
            losses = self.loss(image, targets)
            losses["total"].backward()
            history.append({key: float(value.detach()) for key, value in losses.items()})
            if callback is not None:
                callback(len(history), history[-1])
            return losses["total"]

        with torch.enable_grad():
            if self.optimizer_name == "lbfgs":
                # One step() call runs all iterations with one loss evaluation each (no line search, as
                # in the paper's code); zero tolerances so it stops early only when it truly cannot move.
                optimizer = torch.optim.LBFGS(
                    [image], lr=self.lr, max_iter=steps, max_eval=steps + 1, tolerance_grad=0.0, tolerance_change=0.0
                )
                optimizer.step(closure)
            else:
                optimizer = torch.optim.Adam([image], lr=self.lr)
                for _ in range(steps):
                    closure()
                    optimizer.step()
                    with torch.no_grad():
                        image.clamp_(0, 1)  # first-order steps can overshoot the pixel range
        result = image.detach().clamp(0, 1)
        return (result[0] if squeeze else result), history

    @staticmethod
    def _as_batch(image: Tensor, what: str) -> Tensor:
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or image.shape[1] != 3:
            shape = tuple(image.shape)
            raise ValueError(f"{what}: expected an RGB image (3, H, W) or batch (B, 3, H, W), got shape {shape}")
        return image.float().contiguous()
