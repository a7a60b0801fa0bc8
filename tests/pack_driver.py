"""The inference outputs tests/test_pack.py compares, and the fresh process that computes them from bundles.

    python tests/pack_driver.py OUT.safetensors family=SOURCE ...

loads each SOURCE with ``ganlit.load`` in this new process, with ``torch.load`` and every pickle loader replaced by
a function that fails, so a bundle that needed a pickle could not load, and saves the outputs of each family under
``<family>/<name>`` keys in OUT (safetensors).
"""

from __future__ import annotations

import sys

import torch


def images(n: int, c: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def size_of(model: torch.nn.Module) -> int:
    """The image size of the tests' tiny models: 32 px for the U-Nets (5 levels), else 16."""
    return 32 if type(model).__name__ in ("Pix2Pix", "PAN") else 16


@torch.no_grad()
def outputs(model: torch.nn.Module, family: str) -> dict[str, torch.Tensor]:
    """What ``sample``/``translate`` give for fixed inputs (and a fixed seed where dropout draws)."""
    if family == "gan":
        return {"sample": model.sample(6, seed=5)[0]}
    if family == "cgan":
        images_, labels = model.sample(6, torch.tensor([0, 1, 2, 3, 0, 1]), seed=5)
        return {"sample": images_, "labels": labels}
    x = images(3, size=size_of(model))
    if family in ("pix2pix", "pan"):
        torch.manual_seed(7)  # the paper's test keeps dropout on: seed it
        return {"train_mode": model.translate(x), "eval_mode": model.translate(x, eval_mode=True)}
    if family in ("cyclegan", "discogan"):
        return {"AtoB": model.translate(x, "AtoB"), "BtoA": model.translate(x, "BtoA")}
    if family == "stargan":
        return {"target": model.translate(x, target=[1.0, 0.0, 1.0])}
    if family == "paired_cyclegan":
        return {"apply": model.translate(x, "AtoB", reference=x.flip(0)), "remove": model.translate(x, "BtoA")}
    raise ValueError(family)


def _refuse(*args, **kwargs):
    raise AssertionError("a bundle was read with a pickle loader")


def main(argv: list[str]) -> int:
    import pickle

    from safetensors.torch import save_file

    import ganlit
    import ganlit.api  # noqa: F401  everything a load imports, imported before the loaders are replaced
    import ganlit.bundle  # noqa: F401
    import ganlit.models  # noqa: F401

    torch.set_num_threads(1)  # as the tests' one_thread fixture: seeded sums do not depend on the thread count
    torch.load = _refuse
    pickle.load = pickle.loads = pickle.Unpickler = _refuse
    out = {}
    for item in argv[1:]:
        family, source = item.split("=", 1)
        model = ganlit.load(source)
        out.update({f"{family}/{k}": v.contiguous() for k, v in outputs(model, family).items()})
    save_file(out, argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
