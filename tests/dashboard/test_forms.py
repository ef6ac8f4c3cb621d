import pytest

from dashboard.forms import ExperimentForm, preset_keys

pytestmark = pytest.mark.django_db


def _data(**changes):
    data = {"name": "gap", "preset": "gap", "dataset": "mnist1d", "net": "mlp", "optimizer": "adam", "lr": "0.001",
            "sb_batch": "32", "lb_batch": "0.1", "epochs": "5", "seeds": "3", "subset": ""}
    data.update(changes)
    return data


def test_it_starts_from_the_sb_vs_lb_gap_preset_on_mnist1d():
    form = ExperimentForm()
    assert form.initial["preset"] == "gap" and form.initial["dataset"] == "mnist1d"
    assert form.initial["sb_batch"] == 32 and form.initial["lb_batch"] == 0.1
    assert form.initial["optimizer"] == "adam" and form.initial["lr"] == 1e-3 and form.initial["seeds"] == 3


def test_it_accepts_the_default_preset_and_keeps_its_name():
    form = ExperimentForm(_data())
    assert form.is_valid(), form.errors
    spec = form.spec()
    assert (spec.sb_batch, spec.lb_batch, spec.epochs, spec.seeds) == (32, 0.1, 5, 3)
    assert isinstance(spec.sb_batch, int)
    assert form.preset_key() == "gap"


def test_it_calls_changed_settings_custom():
    form = ExperimentForm(_data(lr="0.01"))
    assert form.is_valid(), form.errors
    assert form.preset_key() == "custom"


@pytest.mark.parametrize("changes, field, words", [
    ({"sb_batch": "5000"}, "sb_batch", "larger than the training set"),
    ({"lb_batch": "8000"}, "lb_batch", "larger than the training set"),
    ({"lb_batch": "16"}, "lb_batch", "must be larger than the small batch"),
    ({"lb_batch": "32"}, "lb_batch", "must be larger than the small batch"),
    ({"lr": "0"}, "lr", "must be positive"),
    ({"lr": "-0.1"}, "lr", "must be positive"),
    ({"epochs": "0"}, "epochs", "must be positive"),
    ({"net": "C1"}, "net", "(3, 32, 32)"),
    ({"net": "F1"}, "net", "784 input features"),
    ({"lb_augment": "on"}, "lb_augment", "needs image data"),
])
def test_it_puts_the_message_on_the_field_at_fault(changes, field, words):
    form = ExperimentForm(_data(**changes))
    assert not form.is_valid()
    assert list(form.errors) == [field], form.errors
    assert words in " ".join(form.errors[field])


def test_it_says_where_to_put_missing_dataset_files(settings, tmp_path):
    settings.LBLAB_DATA_DIR = str(tmp_path)
    form = ExperimentForm(_data(dataset="mnist", net="F1", preset="custom"))
    assert not form.is_valid()
    message = " ".join(form.errors["dataset"])
    assert "missing" in message and str(tmp_path) in message and "MNIST/raw" in message


def test_it_offers_paper_presets_only_when_their_data_is_present(settings, tmp_path):
    settings.LBLAB_DATA_DIR = str(tmp_path)
    keys = [k for k in preset_keys(ExperimentForm().fields["preset"].choices) if not k.startswith("custom")]
    assert keys == ["gap", "sharpness", "parametric", "sweep", "warmstart", "trajectory", "remedies",
                    "eos", "scaling", "reparam", "measures"]
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (tmp_path / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        (tmp_path / "MNIST" / "raw" / f"{name}-ubyte").write_bytes(b"")
    keys = preset_keys(ExperimentForm().fields["preset"].choices)
    assert "f1" in keys and "sharpness-f1" in keys and "warmstart-f1" in keys and "sharpness-c1" not in keys


def test_it_applies_remedies_to_the_lb_runs_only():
    form = ExperimentForm(_data(lb_sam_rho="0.05", lb_ghost_batch_size="32"))
    assert form.is_valid(), form.errors
    configs = {role: form.spec().train_config(role, 0) for role in ("SB", "LB")}
    assert configs["LB"].sam_rho == 0.05 and configs["LB"].ghost_batch_size == 32
    assert configs["SB"].sam_rho == 0.0 and configs["SB"].ghost_batch_size is None


def _preset_data(preset, **changes):
    data = {k: (", ".join(v) if isinstance(v, list) else v)
            for k, v in ExperimentForm.initial_for(preset).items() if v is not None}
    data.update(changes)
    return data


@pytest.mark.parametrize("preset, changes, field, words", [
    ("remedies", {"optimizer": "sgd"}, "remedies", "conservative cannot run with these settings"),
    ("gap", {"epochs": str(10 ** 20)}, "epochs", "epochs = 100000000000000000000, more than this lab allows (5000; setting LBLAB_MAX_EPOCHS)"),
    ("gap", {"epochs": "1" + "0" * 400}, "epochs", "epochs = a 401-digit number, more than"),
    ("sweep", {"batch_sizes": " ".join(str(16 + i) for i in range(1000))}, "batch_sizes", "1000 values, more than this lab allows (32; setting LBLAB_MAX_LIST)"),
    ("sweep", {"batch_sizes": " ".join(str(16 * (i + 1)) for i in range(25)), "seeds": "20"}, "batch_sizes",
     "these settings make 500 runs, more than this lab allows (200; setting LBLAB_MAX_RUNS)"),
    ("sweep", {"batch_sizes": "1e400"}, "batch_sizes", "finite number"),
    ("sweep", {"batch_sizes": "16 32 inf"}, "batch_sizes", "finite number"),
])
def test_it_bounds_what_an_experiment_may_ask_and_says_so_on_the_field(preset, changes, field, words):
    form = ExperimentForm(_preset_data(preset, **changes))
    assert not form.is_valid()
    assert list(form.errors) == [field], form.errors
    assert words in " ".join(form.errors[field])


def test_its_bounds_are_settings(settings):
    settings.LIMITS = {**settings.LIMITS, "max_runs": 5}
    form = ExperimentForm(_preset_data("gap"))  # 3 seeds x SB and LB
    assert not form.is_valid() and "make 6 runs, more than this lab allows (5;" in " ".join(form.errors["seeds"])
    settings.LIMITS = {**settings.LIMITS, "max_seeds": 2}
    form = ExperimentForm(_preset_data("gap"))
    assert not form.is_valid() and "seeds = 3, more than this lab allows (2; setting LBLAB_MAX_SEEDS)" in " ".join(
        form.errors["seeds"])


@pytest.mark.parametrize("field, typed, words", [
    ("lr", "0,001", "write decimals with a point (0.001), not a comma"),
    ("lb_batch", "0,1", "write decimals with a point (0.1), not a comma"),
    ("epochs", "1,000", "write a whole number without separators (1000, not 1,000)"),
])
def test_a_comma_is_refused_on_the_field_never_read_as_another_number(field, typed, words):
    form = ExperimentForm(_data(**{field: typed}))
    assert not form.is_valid() and list(form.errors) == [field]
    assert words in " ".join(form.errors[field])
    assert f'value="{typed}"' in str(form[field])  # what was typed is shown again, as typed


def test_one_choice_names_the_kind_a_preset_or_custom_of_a_kind():
    sweep = ExperimentForm(_data(preset="custom:sweep", kind="gap", batch_sizes="16, 64", subset="256"))
    assert sweep.is_valid(), sweep.errors
    assert sweep.kind_chosen().name == "sweep" and sweep.preset_key() == "custom"  # the stale kind field loses
    preset = ExperimentForm(_data(preset="sharpness", kind="gap"))
    assert preset.is_valid() and preset.kind_chosen().name == "sharpness"
    legacy = ExperimentForm(_data(preset="custom", kind="parametric"))  # API clients name the kind
    assert legacy.is_valid() and legacy.kind_chosen().name == "parametric"
    bad = ExperimentForm(_data(preset="custom:nope"))
    assert not bad.is_valid() and "preset" in bad.errors


def test_the_form_marks_fields_with_the_kinds_that_read_them():
    form = ExperimentForm()
    assert "sweep" not in form.fields["sb_batch"].kinds.split() and "gap" in form.fields["sb_batch"].kinds.split()
    assert "remedies" not in form.fields["lb_sam_rho"].kinds.split()
    assert form.fields["epochs"].kinds == ""  # every kind reads it
    sections = [title for title, _ in form.groups()]
    assert sections[0] == "What to run" and "LB remedies (applied to every LB run)" in sections
