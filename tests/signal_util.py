"""A callback that signals its own process at a given iteration: interrupts land at a known step, whatever the
machine's speed, so the tests that use it never depend on timing."""

from __future__ import annotations

import os
import signal

import lightning as L


class SendSignal(L.Callback):
    """Send ``signal_name`` to this process ``times`` times when the module's iteration ``at_iteration`` starts."""

    def __init__(self, at_iteration: int, signal_name: str = "SIGINT", times: int = 1) -> None:
        self.at_iteration, self.signal_name, self.times = at_iteration, signal_name, times

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if int(pl_module.iteration) == self.at_iteration:
            for _ in range(self.times):
                os.kill(os.getpid(), getattr(signal, self.signal_name))
