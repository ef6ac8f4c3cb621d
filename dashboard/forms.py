"""The new-experiment form: a preset fills the fields; the trainer's own checks validate them.

A ConfigError from ExperimentSpec.validate names a spec field, which is the form field
(LB remedies map from "sam_rho" to "lb_sam_rho").
"""
from __future__ import annotations

import copy

from django import forms
from django.conf import settings

from dashboard.presets import DEFAULT_PRESET, PRESETS, ExperimentSpec, available_presets
from trainer.config import LR_SCALINGS, OPTIMIZERS, ConfigError

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
        return {**d, "preset": preset_key, "name": preset.title}

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
            self.spec().validate(settings.LBLAB_DATA_DIR)
        except ConfigError as e:
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
        return key if ours == theirs else "custom"
