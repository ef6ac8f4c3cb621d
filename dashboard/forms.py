"""The new-experiment form: a preset fills the fields; the trainer's own checks validate them.

A ConfigError from ExperimentSpec.validate names a spec field, which is the form field
(LB remedies map from "sam_rho" to "lb_sam_rho").
"""
from __future__ import annotations

import copy

from django import forms
from django.conf import settings

from dashboard.designs import KINDS, Design
from dashboard.presets import DEFAULT_PRESET, PRESETS, ExperimentSpec, available_presets
from trainer.config import LR_SCALINGS, OPTIMIZERS, ConfigError
from trainer.designs import REMEDIES as DESIGN_REMEDIES

# LB-only remedies offered in the form: TrainConfig field -> form field
REMEDIES = {
    "sam_rho": forms.FloatField(required=False, min_value=0, label="LB remedy: SAM rho",
                                help_text="0.05 is typical; empty or 0: off"),
    "ghost_batch_size": forms.IntegerField(required=False, min_value=1, label="LB remedy: Ghost BatchNorm size",
                                           help_text="BatchNorm statistics over chunks of this many samples"),
    "lr_scaling": forms.ChoiceField(required=False, choices=[("", "none")] + [(s, s) for s in LR_SCALINGS[1:]],
                                    label="LB remedy: lr scaling with batch size"),
    "conservative_lambda": forms.FloatField(required=False, min_value=0, label="LB remedy: conservative lambda",
                                            help_text="paper: 1e-3"),
    "fgsm_eps": forms.FloatField(required=False, min_value=0, label="LB remedy: adversarial FGSM eps"),
    "augment": forms.BooleanField(required=False, label="LB remedy: data augmentation (images only)"),
}


def _choices(names) -> list[tuple[str, str]]:
    return [(n, n) for n in names]


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200)
    preset = forms.ChoiceField()
    dataset = forms.ChoiceField()
    net = forms.ChoiceField(label="Network")
    optimizer = forms.ChoiceField(choices=_choices(OPTIMIZERS))
    lr = forms.FloatField(label="Learning rate")
    sb_batch = forms.FloatField(label="SB batch size", help_text="an integer, or a fraction of the training set")
    lb_batch = forms.FloatField(label="LB batch size", help_text="an integer, or a fraction (0.1 = 10%)")
    epochs = forms.IntegerField()
    seeds = forms.IntegerField(min_value=1, max_value=20, help_text="SB and LB of one seed share initial weights")
    subset = forms.IntegerField(required=False, help_text="train on this many samples (empty: all)")
    kind = forms.ChoiceField(required=False, choices=list(KINDS.items()), label="Experiment kind",
                             help_text="what the experiment runs after training (empty: gap)")
    batch_sizes = forms.CharField(required=False, label="Sweep: batch sizes",
                                  help_text="comma-separated; integers or fractions of the training set")
    every = forms.IntegerField(required=False, min_value=1, label="Warm start / trajectory: keep weights every k epochs")
    lb_epochs = forms.IntegerField(required=False, min_value=1, label="Warm start: LB epochs from each snapshot")
    remedies = forms.MultipleChoiceField(required=False, choices=[(r, r) for r in DESIGN_REMEDIES],
                                         label="Remedies: which ones (empty: all)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from trainer.data import DATASETS
        from trainer.nets import NETS

        self.presets = available_presets(settings.LBLAB_DATA_DIR)
        self.fields["preset"].choices = [(p.key, p.title) for p in self.presets] + [("custom", "Custom")]
        self.fields["dataset"].choices = _choices(DATASETS)
        self.fields["net"].choices = _choices(NETS)
        for key, field in REMEDIES.items():
            self.fields[f"lb_{key}"] = copy.deepcopy(field)
        if not self.is_bound:
            self.initial = {**self.initial_for(DEFAULT_PRESET), **self.initial}

    @staticmethod
    def initial_for(preset_key: str) -> dict:
        preset = PRESETS[preset_key]
        d = preset.spec.to_dict()
        d.pop("lb_overrides")
        d.pop("device")
        design = preset.design.to_dict()
        design["batch_sizes"] = ", ".join(f"{b:g}" for b in design["batch_sizes"])
        design.pop("subspace_dim")
        return {**d, **design, "preset": preset_key, "name": preset.title}

    def design(self) -> Design:
        d, default = self.cleaned_data, Design()
        return Design(kind=d.get("kind") or "gap", batch_sizes=self._batch_sizes() or default.batch_sizes,
                      every=d.get("every") or default.every, lb_epochs=d.get("lb_epochs") or default.lb_epochs,
                      remedies=tuple(d.get("remedies") or default.remedies))

    def _batch_sizes(self) -> tuple[float, ...]:
        text = (self.cleaned_data.get("batch_sizes") or "").replace(",", " ")
        try:
            values = [float(v) for v in text.split()]
        except ValueError:
            raise ConfigError("batch_sizes", f"give numbers separated by commas (got {text!r})") from None
        return tuple(int(v) if v >= 1 else v for v in values)

    def spec(self) -> ExperimentSpec:
        d = self.cleaned_data
        overrides = {key: d[f"lb_{key}"] for key in REMEDIES if d.get(f"lb_{key}") not in (None, "", False, 0)}
        batch = {k: (int(d[k]) if d[k] is not None and d[k] >= 1 else d[k]) for k in ("sb_batch", "lb_batch")}
        return ExperimentSpec(dataset=d["dataset"], net=d["net"], optimizer=d["optimizer"], lr=d["lr"],
                              epochs=d["epochs"], seeds=d["seeds"], subset=d.get("subset"),
                              lb_overrides=overrides, **batch)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            design = self.design()
            if design.kind == "sweep":  # the sweep's batch sizes replace SB and LB
                sb = self.spec().train_config("SB", 0, settings.LBLAB_DATA_DIR)
                for batch in design.batch_sizes:
                    sb.replace(batch_size=batch).validate()
            else:
                self.spec().validate(settings.LBLAB_DATA_DIR)
        except ConfigError as e:
            if e.field == "batch_size":
                e = ConfigError("batch_sizes", e.message)
            field = e.field if e.field in self.fields else f"lb_{e.field}"
            self.add_error(field if field in self.fields else None, e.message)
        return cleaned

    def preset_key(self) -> str:
        """The chosen preset if the settings still match it (epochs and seeds may change), else "custom"."""
        key = self.cleaned_data["preset"]
        if key not in PRESETS:
            return "custom"
        ours = self.spec().to_dict()
        theirs = PRESETS[key].spec.to_dict()
        for editable in ("epochs", "seeds", "subset", "device"):
            ours.pop(editable), theirs.pop(editable)
        return key if ours == theirs and self.design() == PRESETS[key].design else "custom"
