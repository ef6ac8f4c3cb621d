"""Networks: shapes, parameter counts from the architecture arithmetic, fitting errors, Ghost BN."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.evaluate import eval_mode
from trainer.nets import (
    NETS,
    GhostBatchNorm1d,
    GhostBatchNorm2d,
    NetError,
    build_net,
    check_fits,
    count_parameters,
    set_ghost_batch_size,
)

torch.set_num_threads(1)

EPS = 1e-5  # PyTorch BatchNorm default


# Parameter arithmetic: weights + biases; BatchNorm has a scale and a shift per channel.
def dense(i: int, o: int) -> int:
    return i * o + o


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def conv1d(cin: int, cout: int, k: int) -> int:
    return cin * cout * k + cout


def bn(c: int) -> int:
    return 2 * c


C1_BODY = conv(3, 64, 5) + bn(64) + conv(64, 64, 5) + bn(64) \
    + dense(64 * 8 * 8, 384) + bn(384) + dense(384, 192) + bn(192)
C2_BODY = (
    conv(3, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64)                                # stack 1: 2 x 64
    + conv(64, 128, 3) + bn(128) + conv(128, 128, 3) + bn(128)                        # stack 2: 2 x 128
    + conv(128, 256, 3) + bn(256) + 2 * (conv(256, 256, 3) + bn(256))                 # stack 3: 3 x 256
    + conv(256, 512, 3) + bn(512) + 2 * (conv(512, 512, 3) + bn(512))                 # stack 4: 3 x 512
    + 3 * (conv(512, 512, 3) + bn(512))                                               # stack 5: 3 x 512
    + dense(512, 512) + bn(512)
)
EXPECTED_PARAMS = {
    "F1": dense(784, 512) + bn(512) + 4 * (dense(512, 512) + bn(512)) + dense(512, 10),
    "F2": dense(360, 512) + bn(512) + 6 * (dense(512, 512) + bn(512)) + dense(512, 1973),
    "C1": C1_BODY + dense(192, 10),
    "C3": C1_BODY + dense(192, 100),
    "C2": C2_BODY + dense(512, 10),
    "C4": C2_BODY + dense(512, 100),
    # MNIST-1D, 40 features
    "mlp": dense(40, 256) + bn(256) + 4 * (dense(256, 256) + bn(256)) + dense(256, 10),
    "relu-mlp": dense(40, 256) + 4 * dense(256, 256) + dense(256, 10),  # no BatchNorm
    # length 40 -> 40 -> 20 -> 10 through the stride-1, stride-2, stride-2 convs
    "cnn1d": conv1d(1, 32, 5) + bn(32) + 2 * (conv1d(32, 32, 5) + bn(32)) + dense(32 * 10, 10),
}
PAPER_INPUTS = {
    "F1": ((1, 28, 28), 10), "F2": ((360,), 1973),
    "C1": ((3, 32, 32), 10), "C2": ((3, 32, 32), 10),
    "C3": ((3, 32, 32), 100), "C4": ((3, 32, 32), 100),
    "mlp": ((40,), 10), "relu-mlp": ((40,), 10), "cnn1d": ((40,), 10),
}


@pytest.mark.parametrize("name", list(PAPER_INPUTS))
def test_it_maps_a_paper_batch_to_one_logit_per_class(name):
    shape, classes = PAPER_INPUTS[name]
    torch.manual_seed(0)
    model = build_net(name, shape, classes)
    batch = 2 if name in ("C2", "C4") else 4
    out = model(torch.randn(batch, *shape))
    assert out.shape == (batch, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_it_has_the_trainable_parameter_count_of_the_architecture(name):
    shape, classes = PAPER_INPUTS[name]
    assert count_parameters(build_net(name, shape, classes)) == EXPECTED_PARAMS[name]


def test_it_counts_only_trainable_parameters():
    model = build_net("mlp", (3,), 2, width=4, depth=1)
    model[1].weight.requires_grad_(False)  # Linear(3, 4) weights
    assert count_parameters(model) == dense(3, 4) - 3 * 4 + bn(4) + dense(4, 2)


def test_it_lists_every_net_with_its_paper_dataset():
    assert set(NETS) == {"F1", "F2", "C1", "C2", "C3", "C4", "mlp", "relu-mlp", "cnn1d"}
    assert [NETS[n].paper_dataset for n in ("F1", "F2", "C1", "C2", "C3", "C4", "mlp", "relu-mlp", "cnn1d")] == [
        "mnist", "timit", "cifar10", "cifar10", "cifar100", "cifar100", "mnist1d", "mnist1d", "mnist1d"]


def test_the_relu_mlp_is_dense_relu_layers_without_batchnorm():
    torch.manual_seed(0)
    model = build_net("relu-mlp", (40,), 10, width=8, depth=2)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    x = torch.randn(5, 40)
    by_hand = linears[2](torch.relu(linears[1](torch.relu(linears[0](x)))))
    assert [tuple(m.weight.shape) for m in linears] == [(8, 40), (8, 8), (10, 8)]
    assert torch.allclose(model(x), by_hand)


def test_it_fits_a_paper_net_to_another_class_count():
    model = build_net("C1", (3, 32, 32), 7)
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 7)
    assert count_parameters(model) == C1_BODY + dense(192, 7)


def test_it_accepts_flat_mnist_for_f1():
    model = build_net("F1", (784,), 10)
    assert model(torch.randn(3, 784)).shape == (3, 10)


@pytest.mark.parametrize("width,depth", [(17, 1), (8, 3), (64, 7)])
def test_it_builds_an_mlp_of_any_width_and_depth(width, depth):
    model = build_net("mlp", (2, 5, 3), 4, width=width, depth=depth)
    assert model(torch.randn(4, 2, 5, 3)).shape == (4, 4)
    expected = dense(30, width) + bn(width) + (depth - 1) * (dense(width, width) + bn(width)) + dense(width, 4)
    assert count_parameters(model) == expected
    assert sum(isinstance(m, GhostBatchNorm1d) for m in model.modules()) == depth


def test_it_builds_a_cnn1d_for_any_length_and_width():
    model = build_net("cnn1d", (37,), 5, width=8, depth=2)
    assert model(torch.randn(4, 37)).shape == (4, 5)
    # 37 -> 37 (stride 1) -> 19 (stride 2, ceil)
    assert count_parameters(model) == conv1d(1, 8, 5) + bn(8) + conv1d(8, 8, 5) + bn(8) + dense(8 * 19, 5)


def test_it_builds_the_same_weights_from_the_same_seed():
    torch.manual_seed(3)
    a = build_net("C1", (3, 32, 32), 10).state_dict()
    torch.manual_seed(3)
    b = build_net("C1", (3, 32, 32), 10).state_dict()
    torch.manual_seed(4)
    c = build_net("C1", (3, 32, 32), 10).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.0.weight"], c["0.0.weight"])


# ---------------------------------------------------------------- check_fits

def test_it_refuses_a_non_image_input_for_c1_and_names_the_shape():
    with pytest.raises(NetError, match=r"C1.*\(3, 32, 32\)"):
        check_fits("C1", (40,), 10)
    with pytest.raises(NetError, match="C1"):
        build_net("C1", (40,), 10)


def test_it_refuses_cifar_images_for_f1():
    with pytest.raises(NetError, match=r"F1.*784"):
        check_fits("F1", (3, 32, 32), 10)
    check_fits("F1", (1, 28, 28), 10)
    check_fits("F1", (784,), 10)


def test_it_refuses_anything_but_360_features_for_f2():
    with pytest.raises(NetError, match=r"F2.*360"):
        check_fits("F2", (361,), 1973)
    check_fits("F2", (360,), 1973)


def test_it_lets_the_mlp_take_any_input_shape():
    for shape in [(40,), (1, 28, 28), (3, 32, 32), (360,), (1,)]:
        check_fits("mlp", shape, 10)


def test_it_refuses_a_two_dimensional_input_for_cnn1d():
    with pytest.raises(NetError, match=r"cnn1d.*\(L,\)"):
        check_fits("cnn1d", (1, 28, 28), 10)


@pytest.mark.parametrize("args,pattern", [
    (("VGG", (3, 32, 32), 10), "unknown network 'VGG'.*F1"),
    (("mlp", (40,), 1), "num_classes"),
    (("mlp", (40,), 2.0), "num_classes"),
    (("mlp", (0,), 10), "input_shape"),
    (("mlp", (), 10), "input_shape"),
])
def test_it_refuses_bad_names_shapes_and_class_counts(args, pattern):
    with pytest.raises(NetError, match=pattern):
        check_fits(*args)


def test_it_refuses_width_and_depth_where_the_architecture_is_fixed():
    with pytest.raises(NetError, match="C1 has a fixed architecture"):
        build_net("C1", (3, 32, 32), 10, width=128)
    with pytest.raises(NetError, match="depth"):
        build_net("mlp", (40,), 10, depth=0)


def test_its_errors_are_value_errors():
    assert issubclass(NetError, ValueError)


# ---------------------------------------------------------------- C2 dropout placement

def _tokens(model: nn.Module) -> list[str]:
    names = {nn.Conv2d: "conv", GhostBatchNorm2d: "bn", GhostBatchNorm1d: "bn", nn.ReLU: "relu",
             nn.MaxPool2d: "pool", nn.Flatten: "flatten", nn.Linear: "dense"}
    out = []
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            out.append(f"drop{m.p}")
        elif type(m) in names:
            out.append(names[type(m)])
    return out


def test_it_places_c2_dropout_as_the_authors_code():
    block = ["conv", "bn", "relu"]
    two = block + ["drop0.3"] + block + ["pool"]
    three = block + ["drop0.3"] + block + ["drop0.4"] + block + ["pool"]
    head = ["flatten", "drop0.5", "dense", "bn", "relu", "drop0.5", "dense"]
    expected = two + two + three + three + three + head
    for name in ("C2", "C4"):
        assert _tokens(build_net(name, (3, 32, 32), 10)) == expected


def test_it_places_c1_dropout_after_each_hidden_dense_block():
    conv_stack = ["conv", "bn", "relu", "pool"] * 2
    head = ["flatten", "dense", "bn", "relu", "drop0.5", "dense", "bn", "relu", "drop0.5", "dense"]
    assert _tokens(build_net("C1", (3, 32, 32), 10)) == conv_stack + head


# ---------------------------------------------------------------- Ghost BatchNorm

def _randomised(bn: nn.modules.batchnorm._BatchNorm, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    return bn


def _chunk_normalised(x: torch.Tensor, w, b, size: int, dims) -> torch.Tensor:
    """(x - mean) / sqrt(biased var + eps) * w + b, each `size` chunk on its own."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    outs = []
    for c in x.split(size):
        mean = c.mean(dim=dims, keepdim=True)
        var = ((c - mean) ** 2).mean(dim=dims, keepdim=True)
        outs.append((c - mean) / torch.sqrt(var + EPS) * w.view(shape) + b.view(shape))
    return torch.cat(outs)


@pytest.mark.parametrize("ghost", [None, 16, 100])
def test_it_is_plain_batchnorm_without_a_smaller_ghost_size(ghost):
    plain, ghosted = _randomised(nn.BatchNorm1d(6)), _randomised(GhostBatchNorm1d(6))
    ghosted.ghost_batch_size = ghost
    x = torch.randn(3, 16, 6)
    for step in range(3):
        assert torch.equal(plain(x[step]), ghosted(x[step]))
    for key, value in plain.state_dict().items():
        assert torch.equal(value, ghosted.state_dict()[key]), key
    plain.eval()
    ghosted.eval()
    assert torch.equal(plain(x[0]), ghosted(x[0]))


def test_it_keeps_plain_batchnorm_state_dict_keys():
    assert list(GhostBatchNorm2d(4).state_dict()) == list(nn.BatchNorm2d(4).state_dict())
    ghosted = GhostBatchNorm1d(4)
    ghosted.load_state_dict(_randomised(nn.BatchNorm1d(4)).state_dict())
    assert torch.equal(ghosted.running_var, _randomised(nn.BatchNorm1d(4)).running_var)


def test_it_normalises_each_ghost_batch_with_its_own_statistics():
    bn = _randomised(GhostBatchNorm1d(5))
    bn.ghost_batch_size = 4
    x = torch.randn(16, 5) * 3 + torch.arange(16.0).unsqueeze(1)  # chunks with different means
    out = bn(x)
    expected = _chunk_normalised(x, bn.weight.detach(), bn.bias.detach(), 4, dims=0)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    whole = _chunk_normalised(x, bn.weight.detach(), bn.bias.detach(), 16, dims=0)
    assert (out - whole).abs().max() > 0.1


def test_it_updates_running_stats_once_per_ghost_batch():
    bn = _randomised(GhostBatchNorm1d(5))
    bn.ghost_batch_size = 4
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    x = torch.randn(16, 5) + torch.arange(16.0).unsqueeze(1)
    bn(x)
    m = bn.momentum
    for c in x.split(4):
        mean = (1 - m) * mean + m * c.mean(0)
        var = (1 - m) * var + m * ((c - c.mean(0)) ** 2).sum(0) / (len(c) - 1)  # unbiased
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)
    assert bn.num_batches_tracked.item() == 4


def test_it_normalises_conv_ghost_batches_over_samples_and_pixels():
    bn = _randomised(GhostBatchNorm2d(3))
    bn.ghost_batch_size = 2
    x = torch.randn(8, 3, 5, 5) + torch.arange(8.0).view(8, 1, 1, 1)
    mean0 = bn.running_mean.clone()
    out = bn(x)
    expected = _chunk_normalised(x, bn.weight.detach(), bn.bias.detach(), 2, dims=(0, 2, 3))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    m, mean = bn.momentum, mean0
    for c in x.split(2):
        mean = (1 - m) * mean + m * c.mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, mean)


def test_it_folds_a_single_trailing_sample_into_the_previous_ghost_batch():
    bn = _randomised(GhostBatchNorm1d(3))
    bn.ghost_batch_size = 4
    x = torch.randn(9, 3)  # chunks of 4 and 5, not 4, 4, 1
    out = bn(x)
    w, b = bn.weight.detach(), bn.bias.detach()
    expected = torch.cat([_chunk_normalised(x[:4], w, b, 4, 0), _chunk_normalised(x[4:], w, b, 5, 0)])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 2


def test_it_uses_running_stats_in_eval_mode_whatever_the_ghost_size():
    bn = _randomised(GhostBatchNorm1d(4)).eval()
    bn.ghost_batch_size = 2
    x = torch.randn(8, 4)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + EPS) * bn.weight + bn.bias
    torch.testing.assert_close(bn(x), expected.detach())


def test_it_sets_the_ghost_size_on_every_batchnorm_of_a_net():
    for name in ("C1", "F1", "cnn1d"):
        shape, classes = PAPER_INPUTS[name]
        model = build_net(name, shape, classes)
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert bns and all(isinstance(m, (GhostBatchNorm1d, GhostBatchNorm2d)) for m in bns)
        set_ghost_batch_size(model, 128)
        assert all(m.ghost_batch_size == 128 for m in bns)
        set_ghost_batch_size(model, None)
        assert all(m.ghost_batch_size is None for m in bns)


@pytest.mark.parametrize("size", [0, 1, -4, 2.5, True, "128"])
def test_it_refuses_a_ghost_size_below_two(size):
    with pytest.raises(NetError, match="ghost_batch_size"):
        set_ghost_batch_size(build_net("mlp", (4,), 2), size)


def test_it_refuses_a_ghost_size_for_plain_batchnorm():
    with pytest.raises(NetError, match="BatchNorm1d"):
        set_ghost_batch_size(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), 4)


def test_a_ghost_net_trains_one_step():
    torch.manual_seed(0)
    model = build_net("C1", (3, 32, 32), 10)
    set_ghost_batch_size(model, 4)
    loss = nn.functional.cross_entropy(model(torch.randn(8, 3, 32, 32)), torch.arange(8))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------- batch-statistics evaluation

def test_batch_statistics_evaluation_normalises_the_whole_batch_and_keeps_buffers():
    torch.manual_seed(0)
    model = build_net("mlp", (5,), 3, width=4, depth=1)  # Flatten, Linear, BN, ReLU, Linear
    lin1, bn_layer, lin2 = model[1], _randomised(model[2]), model[4]
    set_ghost_batch_size(model, 2)  # evaluation must ignore it
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(10, 5)
    with torch.no_grad(), eval_mode(model, "batch"):
        out = model(x)
        h = x @ lin1.weight.T + lin1.bias
        h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + EPS) * bn_layer.weight + bn_layer.bias
        expected = h.clamp(min=0) @ lin2.weight.T + lin2.bias
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.training
