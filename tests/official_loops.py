"""The official training iterations of pix2pix, CycleGAN and StarGAN, restated in plain PyTorch.

Written from the order of operations each golden file records (its ``order`` text and the README beside it), on
networks given by the caller, with no ganlit training code: the same expression order, reductions and backward
calls as the official ``optimize_parameters`` / ``Solver.train``. tests/test_official_training.py runs these next to
ganlit's Lightning loop from the same weights, on the same machine, and requires the two to agree bit for bit.

Each function returns ``(losses, grads, after)``: ``{official loss name: [value per iteration]}`` (NaN where not
computed), the gradients at each optimizer's first step ``{net: {param: tensor}}``, and ``{t: {net: state dict}}``
after every iteration.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Result = tuple[dict[str, list[float]], dict[str, dict[str, Tensor]], dict[int, dict[str, dict[str, Tensor]]]]


def _adam(nets: list[nn.Module], golden: dict, phase: str) -> torch.optim.Optimizer:
    o = golden["optimizer"][phase]
    params = [p for net in nets for p in net.parameters()]
    return torch.optim.Adam(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"])


def _trainable(nets: list[nn.Module], on: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(on)


def _gan(prediction: Tensor, real: bool, mode: str) -> Tensor:
    """The official GANLoss: BCEWithLogits (vanilla) or MSE (lsgan) against a 0-d label expanded to the prediction."""
    target = torch.tensor(1.0 if real else 0.0).expand_as(prediction)
    loss = nn.BCEWithLogitsLoss() if mode == "vanilla" else nn.MSELoss()
    return loss(prediction, target)


def _grads(nets: dict[str, nn.Module]) -> dict[str, dict[str, Tensor]]:
    return {name: {k: p.grad.clone() for k, p in net.named_parameters()} for name, net in nets.items()}


def _state(nets: dict[str, nn.Module]) -> dict[str, dict[str, Tensor]]:
    return {name: {k: v.detach().clone() for k, v in net.state_dict().items()} for name, net in nets.items()}


def pix2pix(golden: dict, nets: dict[str, nn.Module], batches: list[dict]) -> Result:
    c, net_g, net_d = golden["config"], nets["netG"], nets["netD"]
    opt_g, opt_d = _adam([net_g], golden, "G"), _adam([net_d], golden, "D")
    losses: dict[str, list[float]] = {k: [] for k in golden["losses"]}
    grads, after = {}, {}
    for t, b in enumerate(batches, start=1):
        real_a, real_b = b["A"], b["B"]
        fake_b = net_g(real_a)
        _trainable([net_d], True)
        opt_d.zero_grad()
        loss_d_fake = _gan(net_d(torch.cat((real_a, fake_b.detach()), 1)), False, c["gan_mode"])
        loss_d_real = _gan(net_d(torch.cat((real_a, real_b), 1)), True, c["gan_mode"])
        loss_d = (loss_d_fake + loss_d_real) * 0.5
        loss_d.backward()
        if t == 1:
            grads |= _grads({"netD": net_d})
        opt_d.step()
        _trainable([net_d], False)
        opt_g.zero_grad()
        loss_g_gan = _gan(net_d(torch.cat((real_a, fake_b), 1)), True, c["gan_mode"])
        loss_g_l1 = F.l1_loss(fake_b, real_b) * c["lambda_L1"]
        loss_g = loss_g_gan + loss_g_l1
        loss_g.backward()
        if t == 1:
            grads |= _grads({"netG": net_g})
        opt_g.step()
        for name, value in [("loss_G_GAN", loss_g_gan), ("loss_G_L1", loss_g_l1), ("loss_D_real", loss_d_real),
                            ("loss_D_fake", loss_d_fake), ("loss_D", loss_d), ("loss_G", loss_g)]:
            losses[name].append(value.item())
        after[t] = _state(nets)
    return losses, grads, after


def cyclegan(golden: dict, nets: dict[str, nn.Module], batches: list[dict]) -> Result:
    c = golden["config"]
    g_a, g_b, d_a, d_b = nets["netG_A"], nets["netG_B"], nets["netD_A"], nets["netD_B"]
    opt_g, opt_d = _adam([g_a, g_b], golden, "G"), _adam([d_a, d_b], golden, "D")
    assert len(batches) * batches[0]["A"].size(0) <= c["pool_size"], "the pools would draw random numbers"
    losses: dict[str, list[float]] = {k: [] for k in golden["losses"]}
    grads, after = {}, {}
    lam_a, lam_b, lam_idt, mode = c["lambda_A"], c["lambda_B"], c["lambda_identity"], c["gan_mode"]
    for t, b in enumerate(batches, start=1):
        real_a, real_b = b["A"], b["B"]
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        _trainable([d_a, d_b], False)
        opt_g.zero_grad()
        loss_idt_a = F.l1_loss(g_a(real_b), real_b) * lam_b * lam_idt
        loss_idt_b = F.l1_loss(g_b(real_a), real_a) * lam_a * lam_idt
        loss_g_a = _gan(d_a(fake_b), True, mode)
        loss_g_b = _gan(d_b(fake_a), True, mode)
        loss_cycle_a = F.l1_loss(rec_a, real_a) * lam_a
        loss_cycle_b = F.l1_loss(rec_b, real_b) * lam_b
        loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
        loss_g.backward()
        if t == 1:
            grads |= _grads({"netG_A": g_a, "netG_B": g_b})
        opt_g.step()
        _trainable([d_a, d_b], True)
        opt_d.zero_grad()
        # The pools hold fewer than pool_size images: they return the current fakes.
        loss_d_a = (_gan(d_a(real_b), True, mode) + _gan(d_a(fake_b.detach()), False, mode)) * 0.5
        loss_d_a.backward()
        loss_d_b = (_gan(d_b(real_a), True, mode) + _gan(d_b(fake_a.detach()), False, mode)) * 0.5
        loss_d_b.backward()
        if t == 1:
            grads |= _grads({"netD_A": d_a, "netD_B": d_b})
        opt_d.step()
        for name, value in [("loss_D_A", loss_d_a), ("loss_G_A", loss_g_a), ("loss_cycle_A", loss_cycle_a),
                            ("loss_idt_A", loss_idt_a), ("loss_D_B", loss_d_b), ("loss_G_B", loss_g_b),
                            ("loss_cycle_B", loss_cycle_b), ("loss_idt_B", loss_idt_b), ("loss_G", loss_g)]:
            losses[name].append(value.item())
        after[t] = _state(nets)
    return losses, grads, after


def _classification(logit: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logit, target, reduction="sum") / logit.size(0)


def _gradient_penalty(score: Tensor, x_hat: Tensor) -> Tensor:
    """mean((||d score / d x_hat||_2 - 1)^2), the norm taken as the square root of the summed squares."""
    (grad,) = torch.autograd.grad(score, x_hat, torch.ones(score.size()), retain_graph=True, create_graph=True)
    norm = torch.sqrt(torch.sum(grad.view(grad.size(0), -1) ** 2, dim=1))
    return torch.mean((norm - 1) ** 2)


def stargan(golden: dict, nets: dict[str, nn.Module], batches: list[dict], recorded: list[dict[str, Any]]) -> Result:
    c, g, d = golden["config"], nets["G"], nets["D"]
    assert c["dataset"] == "CelebA"
    opt_g, opt_d = _adam([g], golden, "G"), _adam([d], golden, "D")
    losses: dict[str, list[float]] = {k: [] for k in golden["losses"]}
    grads, after = {}, {}
    for i, (b, rec) in enumerate(zip(batches, recorded)):
        x_real, label_org = b["image"], b["label"]
        label_trg = label_org[rec["rand_idx"]]
        out_src, out_cls = d(x_real)
        d_loss_real = -torch.mean(out_src)
        d_loss_cls = _classification(out_cls, label_org)
        x_fake = g(x_real, label_trg)
        out_src, out_cls = d(x_fake.detach())
        d_loss_fake = torch.mean(out_src)
        alpha = rec["alpha"]
        x_hat = (alpha * x_real.data + (1 - alpha) * x_fake.data).requires_grad_(True)
        out_src, _ = d(x_hat)
        d_loss_gp = _gradient_penalty(out_src, x_hat)
        d_loss = d_loss_real + d_loss_fake + c["lambda_cls"] * d_loss_cls + c["lambda_gp"] * d_loss_gp
        opt_g.zero_grad()
        opt_d.zero_grad()
        d_loss.backward()
        if i == 0:
            grads |= _grads({"D": d})
        opt_d.step()
        values = {"d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake, "d_loss_cls": d_loss_cls,
                  "d_loss_gp": d_loss_gp, "d_loss": d_loss}
        if (i + 1) % c["n_critic"] == 0:
            x_fake = g(x_real, label_trg)
            out_src, out_cls = d(x_fake)
            g_loss_fake = -torch.mean(out_src)
            g_loss_cls = _classification(out_cls, label_trg)
            x_reconst = g(x_fake, label_org)
            g_loss_rec = torch.mean(torch.abs(x_real - x_reconst))
            g_loss = g_loss_fake + c["lambda_rec"] * g_loss_rec + c["lambda_cls"] * g_loss_cls
            opt_g.zero_grad()
            opt_d.zero_grad()
            g_loss.backward()
            if "G" not in grads:
                grads |= _grads({"G": g})
            opt_g.step()
            values |= {"g_loss_fake": g_loss_fake, "g_loss_rec": g_loss_rec, "g_loss_cls": g_loss_cls,
                       "g_loss": g_loss}
        for name in losses:
            losses[name].append(values[name].item() if name in values else math.nan)
        after[i + 1] = _state(nets)
    return losses, grads, after
