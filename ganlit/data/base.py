"""What every ganlit data module shares: the common arguments, seeded workers and the loaders."""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path
from typing import Any, Callable, Optional

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def seed_worker(worker_id: int) -> None:
    """Reseed numpy and ``random`` in each DataLoader worker from torch's per-worker seed.

    torch already gives every worker its own seed (base seed + worker id, new each epoch); numpy and
    ``random`` would otherwise start identical in every worker and repeat the same augmentations.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class ResumableSampler(Sampler[int]):
    """Shuffled (or sequential) indices whose order depends only on ``seed`` and the epoch.

    Lightning calls ``set_epoch`` at every epoch start; ``skip`` drops the first indices of the next pass,
    so a run restored mid-epoch continues with exactly the samples the interrupted run would have seen.
    """

    def __init__(self, length: int, shuffle: bool, seed: int = 0) -> None:
        self.length, self.shuffle, self.seed = length, shuffle, seed
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.length, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))
        else:
            order = torch.arange(self.length)
        skip, self.skip = self.skip, 0
        return iter(order[skip:].tolist())


class ResumableDataLoader(DataLoader):
    """A DataLoader whose position (epoch, batches served) is saved in checkpoints by Lightning.

    Worker seeds are drawn from ``seed + epoch`` so they do not depend on how many epochs this process ran.
    Resume is exact at any batch with ``num_workers=0``; with workers, exact at epoch boundaries.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches_served = 0

    def __iter__(self):
        sampler = self.sampler
        if isinstance(sampler, ResumableSampler) and self.generator is not None:
            self.generator.manual_seed(sampler.seed * 100003 + sampler.epoch + 1)
        self.batches_served = (sampler.skip // self.batch_size) if isinstance(sampler, ResumableSampler) else 0
        for batch in super().__iter__():
            self.batches_served += 1
            yield batch

    def state_dict(self) -> dict:
        epoch = getattr(self.sampler, "epoch", 0)
        return {"epoch": epoch, "batches_served": self.batches_served}

    def load_state_dict(self, state: dict) -> None:
        sampler = self.sampler
        if not isinstance(sampler, ResumableSampler):
            return
        if state["batches_served"] >= len(self):  # the epoch had finished: start the next one
            sampler.epoch, sampler.skip = state["epoch"] + 1, 0
        else:
            sampler.epoch, sampler.skip = state["epoch"], state["batches_served"] * self.batch_size


def usable_workers(asked: int) -> int:
    """``asked`` DataLoader workers, at most one per CPU core this process may use.

    More workers than cores only slow decoding down (torch warns about it on every run); the default of 4 suits a
    GPU machine and becomes 2 on a 2-core one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(asked, cores))


class SampleDataset(Dataset):
    """The predict "dataset" of the sampling papers (GAN, CGAN): item ``i`` is ``{"seed": seed + i, "label": i mod
    num_classes}``, the noise seed and the class of one sample (the classes cycle as ``ganlit sample`` cycles them).

    The model draws a batch's noise from the seed of its first item (:meth:`ganlit.models.gan.GAN.predict_images`), so
    ``ganlit predict`` with batch size B writes the images ``ganlit sample --seed S --batch-size B`` writes.
    """

    def __init__(self, num: int, num_classes: int = 1, seed: int = 0) -> None:
        if not isinstance(num, int) or num < 1:
            raise ValueError(f"predict_samples={num!r}: expected an integer >= 1")
        self.num, self.num_classes, self.seed = num, max(1, num_classes), seed
        self.labels = [i % self.num_classes for i in range(num)]

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, index: int) -> dict:
        return {"seed": torch.tensor(self.seed + index), "label": torch.tensor(self.labels[index])}


def _once_per_stage(setup: Callable[..., None]) -> Callable[..., None]:
    """``setup(stage)`` runs once per stage: the CLI sets the data up before the loggers start (so a data error
    leaves no logger run behind), and Lightning's own call afterwards finds it done."""

    @functools.wraps(setup)
    def run(self: "GANDataModule", stage: Optional[str] = None) -> None:
        done = self.__dict__.setdefault("_stages_set_up", set())
        if stage in done:
            return
        setup(self, stage)
        done.add(stage)

    return run


class GANDataModule(L.LightningDataModule):
    """Base of the ganlit data modules.

    Subclasses fill ``self.train_set`` / ``self.val_set`` / ``self.test_set`` / ``self.predict_set`` in
    ``setup`` and expose the facts the model needs (``image_size``, ``channels``, ``num_classes`` ...);
    the CLI copies those attributes into the model's arguments of the same name.
    """

    def __init__(
        self,
        root: str = "data",
        batch_size: int = 1,
        num_workers: int = 4,
        image_size: int = 256,
        download: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value, least in (("batch_size", batch_size, 1), ("image_size", image_size, 1),
                                   ("num_workers", num_workers, 0)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"data.init_args.{name}={value!r}: expected an integer >= {least}")
        self.root = Path(root).expanduser()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.image_size = image_size
        self.download = download
        self.pin_memory = pin_memory
        self.seed = seed
        self.train_set: Optional[Dataset] = None
        self.val_set: Optional[Dataset] = None
        self.test_set: Optional[Dataset] = None
        self.predict_set: Optional[Dataset] = None

    channels: int = 3

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "setup" in cls.__dict__:
            cls.setup = _once_per_stage(cls.__dict__["setup"])

    def _loader(self, dataset: Optional[Dataset], shuffle: bool, drop_last: bool = False) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        generator = torch.Generator().manual_seed(self.seed)
        workers = usable_workers(self.num_workers)
        return ResumableDataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ResumableSampler(len(dataset), shuffle=shuffle, seed=self.seed),
            drop_last=drop_last,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0,
            worker_init_fn=seed_worker,
            generator=generator,
        )

    def data_identity(self) -> dict[str, Any]:
        """Class, and per set-up split its image count and content hash (``ganlit.data.identity``), computed once."""
        if getattr(self, "_identity", None) is None or self._identity[0] != id(self.train_set):
            from ganlit.data.identity import data_identity

            self._identity = (id(self.train_set), data_identity(self))
        return self._identity[1]

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True, drop_last=len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set if self.val_set is not None else self.test_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set if self.test_set is not None else self.val_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set if self.predict_set is not None else self.test_set, shuffle=False)
