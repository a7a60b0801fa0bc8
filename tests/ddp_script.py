"""Run by tests/test_ddp.py: train a toy translation GAN with 2 gloo processes, or 1 process on the combined batch."""

import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from toy import Points, ToyGAN
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler


class ToyTranslation(ToyGAN):
    """No noise: the generator maps the data itself, so 1 process on 2B images must equal 2 processes on B each."""

    def forward_step(self, batch):
        return {"fake": self.generator(batch["image"] * 0.5)}

    def generator_loss(self, batch, out):
        loss, logs = super().generator_loss(batch, out)
        self.losses.append(float(loss))
        return loss, logs


class Data(L.LightningDataModule):
    """Rank r takes samples r, r + 2, ...: batch i of the two ranks together is batch i of one process at 2B."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        world, rank = self.trainer.world_size, self.trainer.global_rank
        sampler = DistributedSampler(Points(64), num_replicas=world, rank=rank, shuffle=False)
        return DataLoader(Points(64), batch_size=self.batch_size, sampler=sampler)


def main(out: Path, devices: int, batch_size: int) -> None:
    L.seed_everything(0)
    model = ToyTranslation()
    model.losses = []
    strategy = DDPStrategy(process_group_backend="gloo", find_unused_parameters=True) if devices > 1 else "auto"
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy=strategy, max_epochs=1, limit_train_batches=4,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=out, use_distributed_sampler=False)
    trainer.fit(model, Data(batch_size))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"state": state, "losses": model.losses}, out / f"devices{devices}_rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
