"""A tiny GANModule on 2-d points, for testing the base loop without image networks."""

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ganlit import losses
from ganlit.models.base import GANModule


class Points(Dataset):
    def __init__(self, n: int = 64) -> None:
        self.x = torch.randn(n, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 2.0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.x[i]}


class ToyGAN(GANModule):
    def __init__(self, nan_at: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        self.nan_at = nan_at
        self.calls: list[str] = []

    def forward_step(self, batch):
        z = torch.randn_like(batch["image"])
        return {"fake": self.generator(z)}

    def discriminator_loss(self, batch, out):
        self.calls.append(f"D{int(self.iteration)}")
        loss = losses.d_loss("vanilla", self.discriminator(batch["image"]), self.discriminator(out["fake"].detach()))
        return loss, {"d_loss": loss}

    def generator_loss(self, batch, out):
        self.calls.append(f"G{int(self.iteration)}")
        loss = losses.g_loss("vanilla", self.discriminator(out["fake"]))
        if int(self.iteration) == self.nan_at:
            loss = loss * float("nan")
        return loss, {"g_loss": loss}


def loader(n: int = 64, batch_size: int = 8) -> DataLoader:
    return DataLoader(Points(n), batch_size=batch_size, shuffle=False)


def trainer(tmp_path, **kw) -> L.Trainer:
    kw.setdefault("max_epochs", 1)
    kw.setdefault("logger", False)
    kw.setdefault("enable_checkpointing", False)
    kw.setdefault("accelerator", "cpu")
    return L.Trainer(default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False, **kw)
