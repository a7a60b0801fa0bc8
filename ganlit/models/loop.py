"""The training loop mechanics of :class:`ganlit.models.base.GANModule` (mixed into it): the cadence of D and G phases, the
training step that runs them, the optimizers and learning-rate schedules, gradient clipping and the guard against
non-finite losses.

Where papers differ, a subclass overrides a hook instead of copying the loop:

* :meth:`TrainingLoop.optimizer_parameters`: which parameters the G and the D optimizer update (by default those of
  ``g_nets`` / ``d_nets``); extend it for networks outside them, e.g. projection heads trained with G.
* :meth:`TrainingLoop.build_optimizer`: the optimizer of one phase (Adam with the module's settings).
* :meth:`TrainingLoop.on_after_optimizer_step`: runs after each optimizer step, e.g. WGAN's weight clipping.
* ``cadence``: any pattern of D and G phases (:func:`parse_cadence`), e.g. ``"DGG"`` or ``"D,D,D,D,DG"``.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Literal, Optional

import torch
from torch import Tensor

from ganlit.errors import UsageError

Phase = Literal["D", "G"]


class NonFiniteLossError(UsageError, RuntimeError):
    """A loss became NaN or infinite; the message (one line) names the loss, the iteration and the checkpoint to
    resume from."""


def parse_cadence(cadence: Optional[str], n_critic: int, order: str) -> list[str]:
    """Phases per iteration, cycled: commas separate iterations (batches), the letters of one item are the phases
    run on that batch, in order. ``"D,D,D,D,DG"``: D alone four times, then D followed by G; ``"DGG"``: every batch
    D, then G twice; ``"D,G,G"``: D on one batch, G on each of the next two.

    Without an explicit ``cadence``: D every iteration and G every ``n_critic``-th, in ``order``.
    """
    if order not in ("d_first", "g_first"):
        raise ValueError(f"order={order!r}: expected 'd_first' or 'g_first'")
    if cadence is None:
        if n_critic < 1:
            raise ValueError(f"n_critic={n_critic}: expected an integer >= 1")
        both = "DG" if order == "d_first" else "GD"
        return ["D"] * (n_critic - 1) + [both]
    pattern = [p.strip().upper() for p in cadence.split(",")]
    for p in pattern:
        if not p or set(p) - {"D", "G"}:
            raise ValueError(
                f"cadence={cadence!r}: expected comma-separated phases (D, G) per iteration such as 'D,G,G', 'DGG'"
                " or 'D,D,DG'"
            )
    return pattern


class TrainingLoop:
    """The alternating D/G training of :class:`ganlit.models.base.GANModule` (see :mod:`ganlit.models.loop`)."""

    # ----------------------------------------------------------------- optimizers and schedules
    def lr_lambda(self, t: int) -> float:
        """Learning-rate factor at schedule time ``t`` (epochs or iterations): constant, then linear to 0."""
        if self.lr_decay <= 0:
            return 1.0
        return max(0.0, 1.0 - max(0, t + 1 - self.lr_constant) / float(self.lr_decay + 1))

    def optimizer_parameters(self, phase: Phase) -> list[Any]:
        """What the ``phase`` optimizer (``"G"`` or ``"D"``) updates: the parameters of ``g_nets`` / ``d_nets``.

        Extend it for networks of your own outside those, e.g. projection heads trained with the generator::

            def optimizer_parameters(self, phase):
                extra = list(self.heads.parameters()) if phase == "G" else []
                return super().optimizer_parameters(phase) + extra

        Items may also be torch.optim parameter-group dicts (``{"params": [...], "lr": 1e-3}``), all or none.
        The other phase's optimizer leaves these parameters alone (frozen while it steps). EMA still averages
        ``g_nets`` only.
        """
        nets = self.g_nets if phase == "G" else self.d_nets
        return list(nets.parameters())

    def build_optimizer(self, phase: Phase, params: Iterable[Any]) -> torch.optim.Optimizer:
        """The optimizer of one phase over ``params`` (parameters or parameter-group dicts): Adam at ``lr_g`` (G) or
        ``lr_d`` (D) with ``betas`` and ``weight_decay``, fused when ``fused_adam`` says so (``None``: when every
        parameter is on a GPU). Parameters that do not require gradients are left out. Override it for another
        optimizer; :meth:`configure_optimizers` builds both phases' with it."""
        lr = self.lr_g if phase == "G" else self.lr_d
        params = list(params)
        if params and all(isinstance(group, dict) for group in params):
            params = [{**group, "params": [p for p in group["params"] if p.requires_grad]} for group in params]
            flat = [p for group in params for p in group["params"]]
        else:
            params = flat = [p for p in params if p.requires_grad]
        fused = self.fused_adam
        if fused is None:
            fused = bool(flat) and all(p.is_cuda for p in flat)
        return torch.optim.Adam(params, lr=lr, betas=self.betas, weight_decay=self.weight_decay, fused=fused or None)

    def configure_optimizers(self):
        groups = {phase: self.optimizer_parameters(phase) for phase in ("G", "D")}
        flat = {phase: {id(p) for g in items for p in (g["params"] if isinstance(g, dict) else [g])}
                for phase, items in groups.items()}
        if flat["G"] & flat["D"]:
            names = [n for n, p in self.named_parameters() if id(p) in flat["G"] & flat["D"]]
            raise ValueError(f"{type(self).__name__}.optimizer_parameters: {len(names)} parameter(s) are in both the G "
                             f"and the D optimizer (e.g. {names[:3]}); each parameter belongs to one phase")
        opt_g, opt_d = self.build_optimizer("G", groups["G"]), self.build_optimizer("D", groups["D"])
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, self.lr_lambda) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], scheds

    def _step_schedulers(self) -> None:
        with warnings.catch_warnings():
            # A cadence may step the schedule before an optimizer's first step (StarGAN's G); that is intended.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            for sched in self.lr_schedulers():
                sched.step()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Called inside opt.step(), after fp16 gradients were unscaled.
        if self.grad_clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")

    def on_after_optimizer_step(self, phase: Phase, optimizer: torch.optim.Optimizer) -> None:
        """Called after each optimizer step the loop takes (not after a step skipped for a non-finite loss), under
        ``torch.no_grad()``, with the phase (``"D"`` or ``"G"``) and its optimizer. Default: nothing. E.g. WGAN's
        weight clipping: ``if phase == "D": [p.clamp_(-0.01, 0.01) for p in self.discriminator.parameters()]``."""

    # ----------------------------------------------------------------- the loop
    def phases_at(self, iteration: int) -> str:
        """The phases run at ``iteration`` of the module's counter (saved in checkpoints, so a resumed run continues
        the pattern where it stopped)."""
        return self.pattern[iteration % len(self.pattern)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        it = int(self.iteration)
        phases = self.phases_at(it)
        opt_g, opt_d = self.optimizers()
        log_now = self._logs_this_iteration()
        with torch.set_grad_enabled("G" in phases):
            out = self.forward_step(batch)
        for i, phase in enumerate(phases):
            if phase == "G" and "G" in phases[:i]:
                out = self.forward_step(batch)  # G moved (and its graph was freed): fresh fakes for the next G step
            opt = opt_d if phase == "D" else opt_g
            loss_fn = self.discriminator_loss if phase == "D" else self.generator_loss
            with self.toggled_optimizer(opt):
                loss, logs = loss_fn(batch, out)
                opt.zero_grad(set_to_none=True)
                if self._finite_or_skip(phase, loss, logs, it):
                    self.manual_backward(loss)
                    opt.step()
                    with torch.no_grad():
                        self.on_after_optimizer_step(phase, opt)
            if log_now:
                self.log_dict({f"train/{k}": v.detach() if torch.is_tensor(v) else v for k, v in logs.items()},
                              prog_bar=False, on_step=True, on_epoch=False)
        if "G" in phases and self.generator_ema is not None:
            self.generator_ema.update_parameters(self.g_nets)
        self.iteration += 1
        if self.schedule_unit == "iteration":
            self._step_schedulers()
        if log_now:
            self.log("train/lr_g", opt_g.param_groups[0]["lr"], on_step=True, on_epoch=False)
        if self.sample_every_n_steps and (it + 1) % self.sample_every_n_steps == 0:
            self.write_samples()

    def _logs_this_iteration(self) -> bool:
        """Whether this iteration's on_step values reach the loggers. Lightning writes them only every
        ``log_every_n_steps`` batches (and in fast_dev_run), and each ``self.log`` key costs a ResultCollection
        update (about 2 ms of CPU on a 2-core VM), so the other iterations skip logging, as Lightning's own
        monitors do."""
        if self._trainer is None:
            return True
        trainer = self.trainer
        return bool(trainer.fast_dev_run) or trainer._logger_connector.should_update_logs

    def on_train_epoch_end(self) -> None:
        if self._trainer is not None and not self.trainer.fit_loop.epoch_loop._num_ready_batches_reached():
            # Cut short by max_steps or a stop request: the epoch has not ended, so neither has its schedule
            # step (a run resumed from here, or a straight run, takes it when the epoch really ends).
            return
        if self.schedule_unit == "epoch":
            self._step_schedulers()
        self.write_samples()

    def _finite_or_skip(self, phase: str, loss: Tensor, logs: dict[str, Tensor], it: int) -> bool:
        if bool(torch.isfinite(loss.detach())):
            return True
        bad = [k for k, v in logs.items() if torch.is_tensor(v) and not bool(torch.isfinite(v.detach()).all())]
        if self.on_nonfinite == "skip":
            self.skipped_steps += 1
            self.log("train/skipped_steps", self.skipped_steps.float(), on_step=True, on_epoch=False)
            return False
        last = self._last_checkpoint()
        raise NonFiniteLossError(
            f"{type(self).__name__}: the {phase} loss became {loss.item()} at iteration {it}"
            f" (non-finite terms: {', '.join(bad) or 'the total'}). Lower the learning rate or enable grad_clip (or set"
            " on_nonfinite: skip to drop such steps), then "
            + (f"resume from the last good checkpoint: --ckpt_path {last}" if last else "start again: no checkpoint "
               "was saved yet")
        )

    def _last_checkpoint(self) -> Optional[str]:
        callbacks = list(getattr(self.trainer, "checkpoint_callbacks", [])) if self._trainer is not None else []
        paths = [getattr(cb, "last_model_path", "") for cb in callbacks]  # last.ckpt first, then a best one
        paths += [getattr(cb, "best_model_path", "") for cb in callbacks]
        return next((p for p in paths if p), None)
