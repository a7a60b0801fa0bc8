"""Evaluation: FID, KID and IS of a model's images, always reported with their protocol.

* FID: Heusel et al. (2017), eq. 6: ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))`` on features.
* KID: Binkowski et al. (2018), sec. 3: the unbiased MMD^2 with the cubic polynomial kernel, averaged over
  random subsets (mean and standard deviation); the subset size shrinks to the smaller set on small splits.
* IS: Salimans et al. (2016), sec. 4: ``exp(E_x KL(p(y|x) || p(y)))`` over splits, on class logits.

The formulas are torchmetrics' (``FrechetInceptionDistance``, ``KernelInceptionDistance``, ``InceptionScore``),
fed with features computed here so the real-image features can be cached on disk. With ``"inception"`` those are
torch-fidelity's features (its TF1 resize, no antialiasing), so the numbers are torch-fidelity's, not those of
torchmetrics' own Inception with its default antialiased resize.

Feature networks (``features=``):

* ``"inception"``: torch-fidelity's InceptionV3 port of the TF FID graph (pool3 2048-d for FID/KID,
  ``logits_unbiased`` for IS), images quantised to uint8 and resized to 299 px with the TF1-compatible
  bilinear resize. Weights are read offline: ``weights-inception-2015-12-05-6726825d.pth`` from
  ``$TORCH_HOME/hub/checkpoints`` or the path given as ``inception_weights``. Nothing is downloaded.
* ``"digits"``: the 128-d features of the digits class judge (:mod:`ganlit.data.digits`) at 16 px, its
  10 class logits for IS. These numbers are logged as ``digits_fid``/``digits_kid_*``/``digits_is_*``: a
  cheap progress signal for the CPU digits world, never comparable to an Inception FID.
* any ``nn.Module`` mapping images in [-1, 1] to ``[N, D]`` features (or ``(features, logits)``); IS is
  only computed when the network gives logits (the protocol says when it was not).

Protocol: every result carries the feature network and its weights file, the resize, the real split and
count, the fake count, the KID subsets, the IS splits and whether the EMA generator was evaluated. The
callback prints it once and logs it to every logger (W&B: the run config under ``eval_protocol``).

Distributed: each rank evaluates a disjoint shard of the split (and the generated images of its items), the
features are gathered to rank zero, put back in item order, scored there (rank zero writes the cache) and the
numbers are broadcast so that every rank logs the same value (ModelCheckpoint may monitor them on any rank).
Every random draw is keyed by the global index of the item or generated image, never by the rank
(:mod:`ganlit.models.draws`), so 2 processes score the very images 1 process scores: ``ganlit evaluate`` of the
checkpoint gives the numbers logged during a DDP fit.

Missing Inception weights: training stops in ``setup`` (before the first step) with the one-paragraph
:class:`~ganlit.weights.MissingWeightsError`, unless ``on_missing_weights="warn"``, which disables the
evaluation with a loud warning. Under ``fast_dev_run`` the evaluation is skipped.
"""

from ganlit.metrics.callback import Evaluation
from ganlit.metrics.evaluation import Dist, EvalResult, describe_data, evaluate_model, format_report
from ganlit.metrics.features import (
    INCEPTION_FILE,
    INCEPTION_URL,
    DigitsFeatures,
    FeatureNet,
    InceptionFeatures,
    ModuleFeatures,
    build_features,
    resolve_inception_weights,
)
from ganlit.metrics.scores import RealFeatureCache, cache_root, compute_metrics

__all__ = [
    "INCEPTION_FILE", "INCEPTION_URL", "FeatureNet", "InceptionFeatures", "DigitsFeatures", "ModuleFeatures",
    "build_features", "resolve_inception_weights", "compute_metrics", "cache_root", "RealFeatureCache", "EvalResult",
    "Dist", "evaluate_model", "describe_data", "Evaluation", "format_report",
]
