"""Each remedy reduces to plain training at its neutral setting and changes it otherwise."""
import math

import pytest
import torch
from torch import nn

from trainer.augment import augment_batch
from trainer.config import TrainConfig
from trainer.steps import ConservativeStep, LossAndGrad, PlainStep, SAMStep
from trainer.train import Trainer

QUICK = dict(dataset="mnist1d", net="mlp", width=32, depth=2, subset=800, epochs=1, threads=1, seed=0)


def tiny_model(seed=0, bn=True):
    torch.manual_seed(seed)
    layers = [nn.Linear(6, 8)] + ([nn.BatchNorm1d(8)] if bn else []) + [nn.ReLU(), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def batches(n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)) for _ in range(n)]


def train_with(make, seed=0):
    """Run a step object over fixed batches; return the final state dict."""
    model = tiny_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    step = make(model, opt)
    for x, y in batches():
        step(x, y)
    return model.state_dict()


def plain(model, opt):
    return PlainStep(model, opt, LossAndGrad(model))


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_conservative_training_with_lambda_zero_is_adam_on_each_batch_repeated():
    # lambda = 0: the k inner iterations are k plain Adam steps on the same batch.
    def repeated(model, opt):
        step = plain(model, opt)
        return lambda x, y: [step(x, y) for _ in range(3)][0]

    reference = train_with(repeated)
    neutral = train_with(lambda m, o: ConservativeStep(m, o, LossAndGrad(m), lam=0.0, steps=3))
    assert same(neutral, reference)
    assert same(train_with(lambda m, o: ConservativeStep(m, o, LossAndGrad(m), lam=0.0, steps=1)), train_with(plain))
    proximal = train_with(lambda m, o: ConservativeStep(m, o, LossAndGrad(m), lam=10.0, steps=3))
    assert not same(proximal, reference)


def test_conservative_inner_steps_pull_towards_the_centre():
    # With a huge lambda the proximal term dominates: weights move less than plain Adam x 3.
    far = train_with(lambda m, o: ConservativeStep(m, o, LossAndGrad(m), lam=0.0, steps=3))
    near = train_with(lambda m, o: ConservativeStep(m, o, LossAndGrad(m), lam=1e3, steps=3))
    start = tiny_model().state_dict()
    dist = lambda s: sum((s[k] - start[k]).float().norm() ** 2 for k in s if "running" not in k and "num" not in k)
    assert dist(near) < dist(far)


def test_sam_with_rho_zero_is_its_base_optimizer():
    reference = train_with(plain)
    assert same(train_with(lambda m, o: SAMStep(m, o, LossAndGrad(m), rho=0.0)), reference)
    assert same(train_with(lambda m, o: SAMStep(m, o, LossAndGrad(m), rho=0.0, adaptive=True)), reference)
    assert not same(train_with(lambda m, o: SAMStep(m, o, LossAndGrad(m), rho=0.05)), reference)


def test_sam_takes_the_gradient_at_the_ascended_point():
    # Independent computation for one SGD step without BatchNorm:
    # w' = w - lr * grad L(w + rho g / |g|).
    torch.manual_seed(0)
    model = tiny_model(bn=False)
    x, y = batches(1)[0]
    w = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, list(model.parameters()))
    norm = torch.sqrt(sum((gi ** 2).sum() for gi in g))
    with torch.no_grad():
        for p, gi in zip(model.parameters(), g):
            p.add_(0.1 * gi / norm)
    g_adv = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.parameters()))
    expected = [wi - 0.5 * gi for wi, gi in zip(w, g_adv)]

    model = tiny_model(bn=False)
    SAMStep(model, torch.optim.SGD(model.parameters(), lr=0.5), LossAndGrad(model), rho=0.1)(x, y)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-6)


def test_adversarial_training_with_zero_weight_keeps_the_clean_gradient():
    reference = train_with(plain)
    zero = train_with(lambda m, o: PlainStep(m, o, LossAndGrad(m, fgsm_eps=0.1, adv_weight=0.0)))
    # the adversarial forward still moves BatchNorm running buffers; the weights are unchanged
    assert all(torch.equal(zero[k], reference[k]) for k in reference if "running" not in k and "num" not in k)
    mixed = train_with(lambda m, o: PlainStep(m, o, LossAndGrad(m, fgsm_eps=0.1, adv_weight=0.5)))
    assert not same(mixed, reference)


def test_micro_batches_accumulate_the_full_batch_gradient_without_batchnorm():
    x, y = batches(1)[0]
    full, micro = tiny_model(bn=False), tiny_model(bn=False)
    LossAndGrad(full)(x, y)
    loss, correct = LossAndGrad(micro, micro_batch=4)(x, y)
    for a, b in zip(full.parameters(), micro.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(full(x), y).item(), rel=1e-5)


def test_a_ghost_batch_as_large_as_the_batch_is_plain_batchnorm():
    plain_run = Trainer(TrainConfig(**QUICK, batch_size=80)).run()
    ghost_run = Trainer(TrainConfig(**QUICK, batch_size=80, ghost_batch_size=80)).run()
    small_ghosts = Trainer(TrainConfig(**QUICK, batch_size=80, ghost_batch_size=16)).run()
    assert same(ghost_run.model.state_dict(), plain_run.model.state_dict())
    assert not same(small_ghosts.model.state_dict(), plain_run.model.state_dict())


def test_remedies_through_the_trainer_change_training():
    base = Trainer(TrainConfig(**QUICK)).run().model.state_dict()
    for changes in (dict(sam_rho=0.05), dict(conservative_lambda=1e-1), dict(fgsm_eps=0.05)):
        assert not same(Trainer(TrainConfig(**QUICK, **changes)).run().model.state_dict(), base), changes


def test_augmentation_with_no_motion_is_the_identity():
    x = torch.rand(5, 3, 8, 8)
    out = augment_batch(x, flip=False, rotate_deg=0.0, translate=0.0)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)


def test_augmentation_flips_exactly_the_chosen_images():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 6, 6)
    out = augment_batch(x, flip=True, rotate_deg=0.0, translate=0.0)
    flipped = [torch.allclose(o, xi.flip(-1), atol=1e-6) for o, xi in zip(out, x)]
    kept = [torch.allclose(o, xi, atol=1e-6) for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48


def test_augmentation_translates_by_whole_pixels_when_asked():
    # A shift of exactly 1/4 of an 8-pixel image is 2 pixels: compare with torch.roll.
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3:5, 3:5] = 1.0
    theta = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])
    grid = nn.functional.affine_grid(theta, [1, 1, 8, 8], align_corners=False)
    shifted = nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="border")
    torch.testing.assert_close(shifted, torch.roll(x, shifts=-2, dims=3))
    # and the sampler draws translations within the range asked for
    torch.manual_seed(1)
    moved = augment_batch(x.repeat(200, 1, 1, 1), flip=False, rotate_deg=0.0, translate=0.2)
    centres = (moved[:, 0].sum(1) * torch.arange(8.0)).sum(1) / moved[:, 0].sum((1, 2))
    assert (centres - 3.5).abs().max() <= 0.2 * 8 + 0.5
    assert math.isclose(float(moved.sum((1, 2, 3)).mean()), 4.0, rel_tol=0.05)
