"""GANModule: the alternating D/G loop every ganlit paper is written on.

A paper's module builds its networks, then states only its losses:

* ``forward_step(batch) -> dict``: the forward pass both phases share (the fakes). It runs once per
  batch, with gradients only when a G phase follows, so no paper pays for the generator twice.
* ``discriminator_loss(batch, out) -> (loss, logs)`` and ``generator_loss(batch, out) -> (loss, logs)``.
* ``sample_images() -> (images in [0, 1], nrow)`` for the sample grids.
* what it does at inference, where it differs from the defaults: :mod:`ganlit.models.inference` (the
  contract every command reads).

Networks live in ``self.generator``/``self.discriminator`` or, for translation papers, in the
domain-keyed ``nn.ModuleDict`` s ``self.generators``/``self.discriminators``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal, Optional

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganlit.facts import training_facts
from ganlit.record import run_record
from ganlit.sizes import check_image_size
from ganlit.grids import save_and_log_grid
from ganlit.utils.rundir import run_dir
from ganlit.models.loop import NonFiniteLossError, Phase, TrainingLoop, parse_cadence
from ganlit.models.steps import EvaluationSteps
from ganlit.models.inference import InferenceContract

# NonFiniteLossError, Phase and parse_cadence live in the loop module; they stay importable from here.
__all__ = ["GANModule", "NonFiniteLossError", "Phase", "fold_rank_into_rng", "num_parameters", "parse_cadence",
           "rng_state", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU/CUDA, numpy, random) as tensors and plain types (weights_only-safe)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": [list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    internal, gauss = state["python"]
    random.setstate((3, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fold_rank_into_rng(rank: int, seed: int) -> None:
    """Reseed torch, numpy and random with a stream of their own for this rank (rank 0 included)."""
    seed = (seed + 1_000_003 * rank) % 2**63
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class GANModule(TrainingLoop, InferenceContract, EvaluationSteps, L.LightningModule):
    """Base LightningModule for the alternating adversarial training of Goodfellow et al. (2014), Alg. 1.

    The training loop (cadence, optimizers, schedules, non-finite guard): see :mod:`ganlit.models.loop`.
    Validation, test and prediction (``ganlit validate``/``test``/``predict``): see :mod:`ganlit.models.steps`.

    Args:
        lr_g, lr_d: Adam learning rates of the generator(s) and the discriminator(s).
        betas: Adam betas for both.
        weight_decay: Adam weight decay for both (DiscoGAN uses 1e-5).
        n_critic: D steps per G step (StarGAN/WGAN: 5).
        order: ``d_first`` (pix2pix, StarGAN) or ``g_first`` (CycleGAN) within an iteration that runs both.
        cadence: explicit per-iteration phase pattern, overriding ``n_critic``/``order`` (DiscoGAN: ``"D,G,G"``).
        lr_constant, lr_decay: learning rate constant for ``lr_constant`` units, then linearly decayed over
            ``lr_decay`` units (the pix2pix/CycleGAN lambda ``1 - max(0, t + 1 - lr_constant) / (lr_decay + 1)``).
        schedule_unit: ``epoch`` or ``iteration`` (the module's own iteration counter, one per batch).
        ema_decay: keep an exponential moving average of the generator(s) with this decay (``None``: off);
            sampling and evaluation then use the average.
        grad_clip: clip each optimizer's gradient norm to this value (``None``: off).
        sample_every_n_steps: write a sample grid every this many iterations (0: only at epoch ends).
        on_nonfinite: ``raise`` stops training on a NaN/inf loss; ``skip`` drops that step and counts it.
        fused_adam: use the fused Adam kernel (``None``: when the parameters are on a GPU).
        channels_last: keep the networks and image batches in channels-last memory format (faster convs on
            tensor-core GPUs; numerically the same computation).
        compile: ``torch.compile`` each network in place (``nn.Module.compile``; checkpoint keys unchanged).
    """

    # The paper a module implements (title, authors, year, venue, url, bibtex key), for its model card.
    paper: Optional[dict[str, str]] = None

    def __init__(
        self,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 0.0,
        n_critic: int = 1,
        order: Literal["d_first", "g_first"] = "d_first",
        cadence: Optional[str] = None,
        lr_constant: int = 0,
        lr_decay: int = 0,
        schedule_unit: Literal["epoch", "iteration"] = "epoch",
        ema_decay: Optional[float] = None,
        grad_clip: Optional[float] = None,
        sample_every_n_steps: int = 0,
        on_nonfinite: Literal["raise", "skip"] = "raise",
        fused_adam: Optional[bool] = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        # Collects the init arguments of every subclass too, so a checkpoint rebuilds the same module.
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.lr_g, self.lr_d, self.betas, self.weight_decay = lr_g, lr_d, tuple(betas), weight_decay
        self.pattern = parse_cadence(cadence, n_critic, order)
        self.lr_constant, self.lr_decay, self.schedule_unit = lr_constant, lr_decay, schedule_unit
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay={ema_decay}: expected a value in (0, 1), e.g. 0.999, or None")
        self.ema_decay = ema_decay
        self.grad_clip = grad_clip
        self.sample_every_n_steps = sample_every_n_steps
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"on_nonfinite={on_nonfinite!r}: expected 'raise' or 'skip'")
        self.on_nonfinite = on_nonfinite
        self.fused_adam = fused_adam
        self.channels_last, self.compile_networks = channels_last, compile
        self.generator_ema: Optional[AveragedModel] = None
        # The module's own clock: trainer.global_step counts optimizer steps (two per batch).
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        self.register_buffer("skipped_steps", torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------------- what a paper states
    def forward_step(self, batch: Any) -> dict[str, Tensor]:
        """The forward pass shared by the D and G phases of one iteration (default: nothing)."""
        return {}

    def discriminator_loss(self, batch: Any, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The D phase's loss and the terms to log by name, from the batch and :meth:`forward_step`'s ``out``
        (detach the fakes there: the D phase must not reach G). A paper must state it."""
        raise NotImplementedError

    def generator_loss(self, batch: Any, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The G phase's loss and the terms to log by name, from the batch and :meth:`forward_step`'s ``out``.
        A paper must state it."""
        raise NotImplementedError

    def sample_images(self) -> Optional[tuple[Tensor, int]]:
        """Images in [0, 1] for the sample grid and the number per row, or None for no grid."""
        return None

    # ----------------------------------------------------------------- networks
    @property
    def g_nets(self) -> nn.Module:
        """The module(s) updated in the G phase (and averaged by EMA)."""
        return self.generators if hasattr(self, "generators") else self.generator

    @property
    def d_nets(self) -> nn.Module:
        """The module(s) updated in the D phase."""
        return self.discriminators if hasattr(self, "discriminators") else self.discriminator

    def sampling_nets(self) -> nn.Module:
        """The generator(s) to sample and evaluate with: the EMA copy when EMA is on."""
        return self.generator_ema.module if self.generator_ema is not None else self.g_nets

    def _ensure_ema(self) -> None:
        if self.ema_decay is not None and self.generator_ema is None:
            self.generator_ema = AveragedModel(
                self.g_nets, multi_avg_fn=get_ema_multi_avg_fn(self.ema_decay), use_buffers=True
            )
            self.generator_ema.requires_grad_(False)

    def setup(self, stage: str) -> None:
        self._ensure_ema()
        if stage == "fit":
            self._hide_validation_in_fit()
        check_image_size(self, training_facts(self).get("image_size"))  # fail now, not in the first step
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.compile_networks and stage == "fit":
            for nets in (self.g_nets, self.d_nets):
                for net in nets.values() if isinstance(nets, nn.ModuleDict) else [nets]:
                    net.compile()
        from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

        from ganlit.utils.safeload import AtomicCheckpointIO

        strategy = self.trainer.strategy
        if type(strategy.checkpoint_io) is TorchCheckpointIO:
            strategy.checkpoint_io = AtomicCheckpointIO()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lets ``ganlit.checkpoint.load_module`` rebuild the right class from the file alone.
        checkpoint["ganlit_class"] = f"{type(self).__module__}.{type(self).__qualname__}"
        # What translate/export/evaluate/sample need to use the model as it was trained (ganlit.facts).
        checkpoint["ganlit_facts"] = training_facts(self)
        # Which data, hardware and ganlit made it: the model card's facts (ganlit.record, ganlit pack).
        checkpoint["ganlit_record"] = run_record(self)
        # Noise, dropout and image-pool draws continue exactly where they were after a resume.
        checkpoint["ganlit_rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._ensure_ema()
        if "ganlit_rng" in checkpoint and self._trainer is not None:  # resuming a fit, not just loading weights
            set_rng_state(checkpoint["ganlit_rng"])
            self._rng_restored = True
            if self.trainer.world_size > 1:  # only rank 0's state is in the file: give every rank its own stream
                fold_rank_into_rng(self.trainer.global_rank, int(torch.randint(2**62, (1,))))
        # Fixed sample inputs are taken from the first batch seen, so their shape is only known then.
        state = checkpoint.get("state_dict", {})
        for name, buf in list(self.named_buffers(recurse=False)):
            if name.startswith("fixed_") and name in state and state[name].shape != buf.shape:
                setattr(self, name, torch.empty_like(state[name], device=buf.device))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.channels_last and isinstance(batch, dict):
            return {k: v.contiguous(memory_format=torch.channels_last) if torch.is_tensor(v) and v.dim() == 4 else v
                    for k, v in batch.items()}
        return batch

    # ----------------------------------------------------------------- samples
    @torch.no_grad()
    def write_samples(self) -> Optional[Path]:
        """Write the sample grid as a PNG in the run folder and send it to the configured logger."""
        if self._trainer is None or self.trainer.sanity_checking:
            return None
        result = self.sample_images()
        if result is None:
            return None
        images, nrow = result
        if not self.trainer.is_global_zero:
            return None
        path = run_dir(self.trainer) / "samples" / f"iter_{int(self.iteration):07d}.png"
        rows, columns = getattr(self, "sample_rows", None), getattr(self, "sample_columns", None)
        if rows or columns:  # a translation grid names what each row/column shows
            from ganlit.grids import labelled_grid

            images, nrow = labelled_grid(images, nrow, rows, columns)[None], 1
        return save_and_log_grid(self.trainer, images, nrow, path, step=int(self.iteration))

    def on_fit_start(self) -> None:
        if self.trainer.world_size > 1 and not getattr(self, "_rng_restored", False):
            # seed_everything gives every rank the same seed; noise and pool draws must differ between ranks.
            fold_rank_into_rng(self.trainer.global_rank, torch.initial_seed())
        rank_zero_info(
            f"{type(self).__name__}: cadence {','.join(self.pattern)}; lr schedule constant {self.lr_constant}"
            f" then linear decay {self.lr_decay} ({self.schedule_unit}s); EMA {self.ema_decay or 'off'}"
        )


def num_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
