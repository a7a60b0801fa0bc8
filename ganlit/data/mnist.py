"""MNIST through torchvision, for the GAN and CGAN papers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import Dataset

from ganlit.errors import UsageError
from ganlit.data.base import GANDataModule, SampleDataset

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


class MNISTDataMissing(UsageError, FileNotFoundError):
    pass


class _MNISTDict(Dataset):
    """torchvision's MNIST as ganlit batches: ``image`` in [-1, 1] (resized to ``image_size``) and ``label``."""

    def __init__(self, base: Dataset, image_size: int) -> None:
        self.base, self.image_size = base, image_size

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        image, label = self.base[index]
        x = torch.from_numpy(__import__("numpy").asarray(image, dtype="float32") / 255.0)[None]
        if x.shape[-1] != self.image_size:
            x = torch.nn.functional.interpolate(x[None], size=(self.image_size,) * 2, mode="bilinear",
                                                align_corners=False)[0]
        return {"image": x * 2 - 1, "label": torch.tensor(label)}


class MNISTDataModule(GANDataModule):
    """MNIST (LeCun et al. 1998) in torchvision's layout ``<root>/MNIST/raw/``: 60,000 train / 10,000 test digits.

    ``image_size`` 28 is the papers'; 32 suits the DCGAN networks (a power of two). ``ganlit predict`` generates
    ``predict_samples`` images (a :class:`ganlit.data.base.SampleDataset`).
    """

    def __init__(self, root: str = "data", batch_size: int = 64, num_workers: int = 4, image_size: int = 32,
                 download: bool = False, seed: int = 0, predict_samples: int = 64) -> None:
        super().__init__(root=root, batch_size=batch_size, num_workers=num_workers, image_size=image_size,
                         download=download, seed=seed)
        self.channels = 1
        self.num_classes = 10
        if not isinstance(predict_samples, int) or predict_samples < 1:
            raise ValueError(f"data.init_args.predict_samples={predict_samples!r}: expected an integer >= 1")
        self.predict_samples = predict_samples

    def prepare_data(self) -> None:
        if self.download:
            from torchvision.datasets import MNIST

            MNIST(str(self.root), train=True, download=True)
            MNIST(str(self.root), train=False, download=True)

    def _check_files(self) -> None:
        raw = Path(self.root) / "MNIST" / "raw"
        missing = [f for f in MNIST_FILES if not (raw / f).exists() and not (raw / f"{f}.gz").exists()]
        if missing:
            raise MNISTDataMissing(
                f"MNIST not found under {self.root}: missing {', '.join(missing)} in {raw}.\n"
                "Expected tree:\n"
                f"  {self.root}/MNIST/raw/{{train-images-idx3-ubyte, train-labels-idx1-ubyte,"
                " t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte}}\n"
                f"Get it with: ganlit download mnist --root {self.root}   (or set data.download: true)"
            )

    def setup(self, stage: Optional[str] = None) -> None:
        if stage == "predict":  # samples need no files
            self.predict_set = SampleDataset(self.predict_samples, self.num_classes, self.seed)
            return
        if self.train_set is not None:
            return
        self._check_files()
        from torchvision.datasets import MNIST

        self.train_set = _MNISTDict(MNIST(str(self.root), train=True, download=False), self.image_size)
        self.test_set = _MNISTDict(MNIST(str(self.root), train=False, download=False), self.image_size)
        self.val_set = self.test_set
