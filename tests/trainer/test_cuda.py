"""The trainer on a CUDA device: a training step, a whole epoch, a resumed run, Keskar's
sharpness, the live curvature and every analysis by name give there what they give on the
CPU (within float tolerance: other kernels sum in another order). Marked `cuda` and skipped
where torch sees no GPU: `pytest -m cuda` on a GPU host runs them."""
import math

import pytest
import torch

from trainer import data
from trainer.analysis import hessian_eigenvalues, keskar_sharpness
from trainer.analysis.by_name import run_analysis
from trainer.config import TrainConfig
from trainer.evaluate import flat_parameters
from trainer.train import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"),
]
CUDA = "cuda"
ON_CUDA = torch.device(CUDA).type

# A small MLP on 40-feature Gaussian blobs: 512 samples, 8 batches of 64 an epoch.
MLP = dict(dataset="mnist1d", net="mlp", width=32, depth=2, batch_size=64, epochs=1, threads=1, checkpoint_every=0)


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """The CPU side of each comparison on one thread; the session's count is put back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def blobs(n_train: int = 512, n_test: int = 256, seed: int = 0) -> data.Dataset:
    """Ten Gaussian classes in MNIST-1D's shape (40 features), learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 40, generator=g)

    def draw(n):
        y = torch.randint(0, 10, (n,), generator=g)
        return centres[y] + torch.randn(n, 40, generator=g), y

    return data.Dataset(data.DATASETS["mnist1d"], *draw(n_train), *draw(n_test))


def synthetic_cifar(n_train: int = 128, n_test: int = 64) -> data.Dataset:
    g = torch.Generator().manual_seed(0)
    info = data.DATASETS["cifar10"]
    return data.Dataset(info, torch.rand(n_train, 3, 32, 32, generator=g), torch.randint(0, 10, (n_train,), generator=g),
                        torch.rand(n_test, 3, 32, 32, generator=g), torch.randint(0, 10, (n_test,), generator=g))


def trainers(config: TrainConfig, ds: data.Dataset) -> tuple[Trainer, Trainer]:
    """The same run on the CPU and on CUDA."""
    return Trainer(config, dataset=ds), Trainer(config.replace(device=CUDA), dataset=ds)


def assert_close_states(cuda_state: dict, cpu_state: dict, rtol: float, atol: float) -> None:
    assert cuda_state.keys() == cpu_state.keys()
    for k in cpu_state:
        assert cuda_state[k].device.type == ON_CUDA, k
        torch.testing.assert_close(cuda_state[k].cpu(), cpu_state[k], rtol=rtol, atol=atol, msg=k)


def test_a_training_step_on_cuda_is_the_cpu_step():
    # SGD: the update is the gradient times lr, so float differences stay float-sized (Adam's first
    # step divides a gradient by its own size and would turn a tiny component's rounding into +-lr).
    cpu, gpu = trainers(TrainConfig(**MLP, optimizer="sgd", lr=0.1), blobs())
    assert torch.equal(gpu.x0.cpu(), cpu.x0)  # built on the CPU from one seed, then moved
    xb, yb = cpu.data.x_train[:64], cpu.data.y_train[:64]
    loss_cpu, correct_cpu = cpu.step_fn(xb, yb)
    loss_gpu, correct_gpu = gpu.step_fn(xb.to(CUDA), yb.to(CUDA))
    assert loss_gpu.device.type == ON_CUDA
    assert loss_gpu.item() == pytest.approx(loss_cpu.item(), rel=1e-5)
    assert correct_gpu.item() == correct_cpu.item()
    assert not torch.equal(flat_parameters(gpu.model), gpu.x0)  # the step moved the weights
    assert_close_states(gpu.model.state_dict(), cpu.model.state_dict(), rtol=1e-5, atol=1e-6)


def test_an_epoch_on_cuda_learns_and_ends_where_the_cpu_epoch_ends():
    cpu, gpu = trainers(TrainConfig(**{**MLP, "epochs": 2}, optimizer="sgd", lr=0.1), blobs())
    before = gpu.evaluate()["train_loss"]
    steps = []
    gpu.add_callback("on_step", lambda t, m: steps.append(m))
    on_gpu = gpu.run()
    on_cpu = cpu.run()
    assert len(steps) == 16 and all(s["step_time"] > 0 and math.isfinite(s["loss"]) for s in steps)
    assert on_gpu.history[-1]["train_loss"] < before
    assert on_gpu.history[-1]["dist_init"] > 0
    # the same batches (the order is drawn on the CPU) from the same weights: the same trajectory
    assert_close_states(on_gpu.model.state_dict(), on_cpu.model.state_dict(), rtol=1e-4, atol=1e-5)
    for h_gpu, h_cpu in zip(on_gpu.history, on_cpu.history):
        assert h_gpu["train_loss"] == pytest.approx(h_cpu["train_loss"], rel=1e-4)
        assert h_gpu["test_acc"] == pytest.approx(h_cpu["test_acc"], abs=2 / 256)


def test_a_run_on_cuda_moves_a_dataset_given_on_the_cpu_there():
    ds = blobs()
    trainer = Trainer(TrainConfig(**MLP, device=CUDA), dataset=ds)
    assert trainer.data.x_train.device.type == ON_CUDA and trainer.data.y_test.device.type == ON_CUDA
    assert ds.x_train.device.type == "cpu"  # the caller's dataset is left where it was
    assert trainer.run().step == 8


def _stopped_and_resumed(config: TrainConfig, ds: data.Dataset, path, stop_at: int):
    first = Trainer(config, dataset=ds, checkpoint_path=path)
    first.add_callback("on_step", lambda t, m: t.request_stop() if m["step"] == stop_at else None)
    assert first.run().stopped and path.exists()
    resumed = Trainer(config, dataset=ds, checkpoint_path=path)
    assert resumed.step == stop_at and resumed.step_in_epoch != 0  # stopped in the middle of an epoch
    return resumed.run()


def test_a_resumed_run_on_cuda_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    config = TrainConfig(**{**MLP, "epochs": 3, "checkpoint_every": 1, "device": CUDA})
    ds = blobs()
    whole = Trainer(config, dataset=ds).run()
    result = _stopped_and_resumed(config, ds, tmp_path / "run.pt", stop_at=11)
    assert result.step == 24 and not result.stopped
    state, expected = result.model.state_dict(), whole.model.state_dict()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in whole.history]


def test_a_resumed_run_on_cuda_draws_the_dropout_and_augmentation_it_would_have_drawn(tmp_path, monkeypatch):
    # C1 has dropout and augmentation draws from the CUDA generator: the checkpoint must carry its
    # state. Drawn otherwise, the weights would differ by about the learning rate (1e-3); cuDNN may
    # still sum in another order from run to run, hence a tolerance far below that.
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    config = TrainConfig(dataset="cifar10", net="C1", batch_size=32, epochs=2, augment=True, threads=1,
                         checkpoint_every=1, device=CUDA)
    ds = synthetic_cifar()
    whole = Trainer(config, dataset=ds).run()
    result = _stopped_and_resumed(config, ds, tmp_path / "c1.pt", stop_at=6)
    assert result.step == 8
    expected = whole.model.state_dict()
    for k, v in result.model.state_dict().items():
        torch.testing.assert_close(v, expected[k], rtol=0, atol=1e-5, msg=k)


def trained_mlp() -> tuple[torch.nn.Module, data.Dataset]:
    result = Trainer(TrainConfig(**{**MLP, "epochs": 5}), dataset=blobs()).run()
    return result.model, blobs()


def test_keskar_sharpness_on_cuda_is_the_cpu_value():
    model, ds = trained_mlp()
    x, y = ds.x_train[:256], ds.y_train[:256]
    gpu_model = _copy_to(model, CUDA)
    for options in (dict(epsilons=(1e-3, 5e-4)),  # the paper's: full space, 10 iterations
                    dict(epsilons=(1e-3,), subspace_dim=5, max_iter=50)):
        on_cpu = keskar_sharpness(model, x, y, **options)
        on_gpu = keskar_sharpness(gpu_model, x.to(CUDA), y.to(CUDA), **options)
        for a, b in zip(on_gpu.entries, on_cpu.entries):
            assert a.value > 0
            assert a.value == pytest.approx(b.value, rel=1e-3)
            assert a.f_x == pytest.approx(b.f_x, rel=1e-5)
    # data on the CPU is moved to the model's device; the model is left as it was
    before = {k: v.clone() for k, v in gpu_model.state_dict().items()}
    keskar_sharpness(gpu_model, x, y, epsilons=(1e-3,), subspace_dim=5)
    assert all(torch.equal(v, before[k]) for k, v in gpu_model.state_dict().items())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_live_curvature_and_sharpness_on_cuda_are_the_cpu_values(optimizer):
    config = TrainConfig(**{**MLP, "epochs": 2}, optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 1e-3,
                         curvature_every=4, curvature_samples=128, curvature_steps=60, curvature_tol=1e-5,
                         sharpness_every=1, sharpness_dim=5)
    cpu, gpu = trainers(config, blobs())
    seen = {"cpu": [], "cuda": []}
    cpu.add_callback("on_step", lambda t, m: seen["cpu"].append(m))
    gpu.add_callback("on_step", lambda t, m: seen["cuda"].append(m))
    on_cpu, on_gpu = cpu.run(), gpu.run()
    measured = [(a, b) for a, b in zip(seen["cuda"], seen["cpu"]) if "lambda_max" in a]
    assert len(measured) == 4 and gpu.curvature.vector.device.type == ON_CUDA
    for a, b in measured:
        assert a["lambda_max"] == pytest.approx(b["lambda_max"], rel=1e-3)
        if optimizer == "adam":
            assert a["lambda_max_pre"] == pytest.approx(b["lambda_max_pre"], rel=1e-3)
    assert all(math.isfinite(h["sharpness"]) for h in on_gpu.history)
    if optimizer == "sgd":
        # Adam's runs part at the weights no gradient reaches but rounding (a Linear's bias before
        # BatchNorm: Adam scales its noise to steps of lr): there sharpness differs by a few percent.
        for a, b in zip(on_gpu.history, on_cpu.history):
            assert a["sharpness"] == pytest.approx(b["sharpness"], rel=1e-3)


@pytest.mark.parametrize("kind, params, compare", [
    ("sharpness", {"subspace_dim": 5, "max_iter": 20}, lambda r: [e["value"] for e in r["entries"]]),
    ("hessian", {"k": 2, "n_samples": 256}, lambda r: [*r["eigen"]["eigenvalues"], r["trace"]["trace"]]),
    ("measures", {"n_samples": 256, "subspace_dim": 5},
     lambda r: [v for v in r["values"].values() if v is not None]),
    ("landscape", {"resolution": 5, "n_samples": 256}, lambda r: [v for row in r["train_loss"] for v in row]),
    ("interpolation", {"points": 5}, lambda r: list(r["train_loss"]) + list(r["test_loss"])),
])
def test_every_analysis_by_name_runs_on_cuda_and_gives_the_cpu_result(kind, params, compare):
    model, ds = trained_mlp()
    far = Trainer(TrainConfig(**{**MLP, "epochs": 2, "seed": 1}), dataset=ds).run().model
    results = {}
    for device in ("cpu", CUDA):
        trainer = Trainer(TrainConfig(**MLP, device=device), dataset=ds)
        trainer.model.load_state_dict(model.state_dict())
        trainer_b = Trainer(TrainConfig(**{**MLP, "seed": 1}, device=device), dataset=ds)
        trainer_b.model.load_state_dict(far.state_dict())
        results[device] = compare(run_analysis(kind, params, trainer, trainer_b))
    assert results[CUDA] and all(math.isfinite(v) for v in results[CUDA])
    # Stochastic estimates (Hutchinson's trace, PAC-Bayes σ) draw on the CPU: the same draws on both.
    assert results[CUDA] == pytest.approx(results["cpu"], rel=1e-2, abs=1e-6)


def test_hessian_eigenvalues_on_cuda_are_the_cpu_values():
    model, ds = trained_mlp()
    x, y = ds.x_train[:256], ds.y_train[:256]
    options = dict(k=2, method="lanczos", max_iter=100, tol=1e-6)
    on_cpu = hessian_eigenvalues(model, x, y, **options).eigenvalues
    on_gpu = hessian_eigenvalues(_copy_to(model, CUDA), x.to(CUDA), y.to(CUDA), **options).eigenvalues
    assert on_gpu == pytest.approx(on_cpu, rel=1e-4)


def _copy_to(model: torch.nn.Module, device: str) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model).to(device)
