"""The new-experiment form, generated from the settings' own fields: the experiment's
(trainer.kinds.spec.ExperimentSpec), the LB remedies' (TrainConfig) and each kind's
Options. Labels, help texts, choices and bounds come from the fields' metadata; the
checks are the trainer's, and a ConfigError lands on the field it names.
"""
from __future__ import annotations

import dataclasses
import typing
import uuid

from django import forms
from django.conf import settings

from dashboard import limits

from trainer.catalog import DATASETS, NETS
from trainer.config import TrainConfig
from trainer.fields import ConfigError, hint_of, label_of
from trainer.kinds import DEFAULT_KIND, DEFAULT_PRESET, KINDS, PRESETS, available_presets, get_kind
from trainer.kinds.spec import LB_REMEDY_FIELDS, ExperimentSpec

SPEC_FIELDS = ("dataset", "net", "optimizer", "lr", "sb_batch", "lb_batch", "epochs", "seeds", "subset",
               "curvature_every", "sharpness_every")
OPTIONAL = {"curvature_every": 0, "sharpness_every": 0}  # blank: this value
# settings a preset leaves editable: changing them keeps the experiment's preset
EDITABLE = ("epochs", "seeds", "subset", "device", "curvature_every", "sharpness_every")


def _label(f: dataclasses.Field) -> str:
    text = label_of(f)
    return text[0].upper() + text[1:]


def form_field(cls, name: str, *, label: str | None = None, required: bool | None = None) -> forms.Field:
    """A form field for the settings field `cls.name`: its type, choices, bounds (as the input's
    min/max) and help text. Values are checked by the settings' own checks, not here."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    hint, optional = hint_of(cls, name)
    meta = f.metadata
    common = {"label": label or _label(f), "help_text": meta.get("help", ""),
              "required": (not optional and hint is not bool) if required is None else required}
    bounds = {k: v for k, v in (("min", meta.get("low")), ("max", meta.get("high"))) if v is not None}
    choices = meta.get("choices")
    if typing.get_origin(hint) is tuple and choices:
        return forms.MultipleChoiceField(choices=[(c, c) for c in choices], **common)
    if typing.get_origin(hint) is tuple:
        return forms.CharField(**common)  # comma-separated, parsed by _numbers
    if choices:
        return forms.ChoiceField(choices=[(c, c) for c in choices], **common)
    if hint is bool:
        return forms.BooleanField(**common)
    if hint is int:
        return WholeNumberField(widget=forms.TextInput(attrs={"inputmode": "numeric", **_range(bounds)}), **common)
    if hint is float:
        return DecimalPointField(widget=forms.TextInput(attrs={"inputmode": "decimal", **_range(bounds)}), **common)
    return forms.CharField(**common)


def _range(bounds: dict) -> dict:
    """The bounds as data attributes: text inputs (a number input blanks what it cannot parse, and
    turned "0,001" into 1) keep what was typed, and the server says what is wrong with it."""
    return {f"data-{k}": v for k, v in bounds.items()}


class DecimalPointField(forms.FloatField):
    """A number written with a decimal point. A comma is refused on the field, never read as
    another number ("0,001" is not 1, and "1,000" is not 1)."""

    def to_python(self, value):
        if isinstance(value, str) and "," in value:
            raise forms.ValidationError(f"write decimals with a point ({value.strip().replace(',', '.')}), "
                                        f"not a comma", code="decimal_comma")
        return super().to_python(value)


class WholeNumberField(forms.IntegerField):
    def to_python(self, value):
        if isinstance(value, str) and "," in value:
            raise forms.ValidationError("write a whole number without separators (1000, not 1,000)",
                                        code="separator")
        return super().to_python(value)


def _option_fields() -> dict[str, tuple[type, list]]:
    """Every kind setting by name: the Options class it comes from, and the kinds that have it."""
    fields: dict[str, tuple[type, list]] = {}
    for kind in KINDS.values():
        for f in dataclasses.fields(kind.Options):
            fields.setdefault(f.name, (kind.Options, []))[1].append(kind)
    return fields


OPTION_FIELDS = _option_fields()


def _numbers(name: str, text: str) -> tuple[float, ...]:
    words = (text or "").replace(",", " ").split()
    try:
        values = [float(v) for v in words]
    except ValueError:
        raise ConfigError(name, f"give numbers separated by commas (got {text!r})") from None
    return tuple(int(v) if v >= 1 and v.is_integer() else v for v in values)


def _whole(value):
    """A batch typed as 32.0 is the integer 32; a fraction stays a float."""
    return int(value) if isinstance(value, float) and value >= 1 and value.is_integer() else value


def _readers(name: str) -> str:
    """The kinds whose plan reads the experiment setting `name`, as the page's data-kinds ("" for all)."""
    kinds = [k.name for k in KINDS.values() if name not in k.ignores]
    return "" if len(kinds) == len(KINDS) else " ".join(kinds)


def preset_choices(presets) -> list:
    """The one choice of what to run: per kind, its presets and then its own settings ("custom:<kind>")."""
    groups = []
    for kind in KINDS.values():
        mine = [(p.key, p.title) for p in presets if p.kind == kind.name]
        mine.append((f"custom:{kind.name}", f"Custom {kind.label.lower()}: your own settings"))
        groups.append((f"{kind.label}: {kind.title} ({kind.source})", mine))
    return groups + [("Other", [("custom", "Custom (the kind the request names)")])]


def preset_keys(choices) -> list[str]:
    return [key for _, options in choices for key, _ in options]


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200)
    # one per rendered form: the same form sent twice (a double click, a retry) makes one experiment
    submission = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    preset = forms.ChoiceField(label="What to run",
                               help_text="a part of the paper with its settings, or your own settings of one kind")
    # the kind of a plain "custom" choice (API clients); a preset or custom:<kind> names its own
    kind = forms.ChoiceField(required=False, widget=forms.HiddenInput,
                             choices=[(k.name, k.name) for k in KINDS.values()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.presets = available_presets(settings.LBLAB_DATA_DIR)
        self.fields["preset"].choices = preset_choices(self.presets)
        for name in SPEC_FIELDS:
            self.fields[name] = form_field(ExperimentSpec, name, required=False if name in OPTIONAL else None)
            self.fields[name].kinds = _readers(name)
        self.fields["dataset"] = forms.ChoiceField(choices=[(d, d) for d in DATASETS], label="Dataset",
                                                   help_text=self.fields["dataset"].help_text)
        self.fields["net"] = forms.ChoiceField(choices=[(n, n) for n in NETS], label="Network",
                                               help_text=self.fields["net"].help_text)
        for name, (options, kinds) in OPTION_FIELDS.items():
            field = form_field(options, name, required=False)
            field.kinds = " ".join(k.name for k in kinds)  # the page shows it only for these (form.js)
            self.fields[name] = field
        for name in LB_REMEDY_FIELDS:
            field = form_field(TrainConfig, name, required=False)
            if isinstance(field, forms.ChoiceField):
                field.choices = [("", "none")] + [c for c in field.choices if c[0] != "none"]
            field.kinds = _readers("lb_overrides")
            self.fields[f"lb_{name}"] = field
        if not self.is_bound:
            self.initial = {**self.initial_for(DEFAULT_PRESET), "submission": uuid.uuid4().hex, **self.initial}

    @staticmethod
    def initial_for(preset_key: str) -> dict:
        """The form's values for a preset, as the browser's preset menu fills them in."""
        preset = PRESETS[preset_key]
        spec = {name: getattr(preset.spec, name) for name in SPEC_FIELDS}
        # every kind's settings at their defaults (choosing another kind shows what it will use), the preset's own
        options = {name: getattr(options_class(), name) for name, (options_class, _) in OPTION_FIELDS.items()}
        options.update((name, getattr(preset.options, name)) for name in OPTION_FIELDS if hasattr(preset.options, name))
        for name, value in options.items():
            if isinstance(value, tuple) and value and not isinstance(value[0], str):
                options[name] = ", ".join(f"{v:g}" for v in value)
        return {**spec, **options, "kind": preset.kind, "preset": preset_key, "name": preset.title}

    SECTIONS = (("What to run", ("name", "preset")), ("Data and network", ("dataset", "net", "subset")),
                ("Training", ("optimizer", "lr", "sb_batch", "lb_batch", "epochs", "seeds")),
                ("Live curvature (off when blank)", ("curvature_every", "sharpness_every")),
                ("Settings of the kind", tuple(OPTION_FIELDS)),
                ("LB remedies (applied to every LB run)", tuple(f"lb_{n}" for n in LB_REMEDY_FIELDS)))

    def groups(self) -> list[tuple[str, list]]:
        """The visible fields in the form's sections; the page shows a field only for the kinds that read it."""
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    # -- what the fields say ---------------------------------------------------------------
    def kind_chosen(self):
        """The chosen preset's kind ("custom:sweep": the sweep); for plain "custom", the kind field's."""
        preset = self.cleaned_data.get("preset") or ""
        if preset in PRESETS:
            return get_kind(PRESETS[preset].kind)
        if preset.startswith("custom:"):
            return get_kind(preset.partition(":")[2])
        return get_kind(self.cleaned_data.get("kind") or DEFAULT_KIND)

    def options(self):
        """The chosen kind's settings; a blank field keeps the kind's default."""
        kind, d = self.kind_chosen(), self.cleaned_data
        values = {}
        for f in dataclasses.fields(kind.Options):
            value = d.get(f.name)
            if isinstance(self.fields[f.name], forms.CharField):
                value = _numbers(f.name, value)
            if value not in (None, "", (), []):
                values[f.name] = tuple(value) if isinstance(value, list) else value
        return kind.Options(**values)

    def spec(self) -> ExperimentSpec:
        d = self.cleaned_data
        overrides = {key: d[f"lb_{key}"] for key in LB_REMEDY_FIELDS if d.get(f"lb_{key}") not in (None, "", False, 0)}
        values = {name: d.get(name) for name in SPEC_FIELDS}
        values.update((name, blank) for name, blank in OPTIONAL.items() if values[name] in (None, ""))
        values.update(sb_batch=_whole(values["sb_batch"]), lb_batch=_whole(values["lb_batch"]))
        return ExperimentSpec(**values, lb_overrides=overrides)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            kind, spec, options = self.kind_chosen(), self.spec(), self.options()
            limits.check_fields(spec, options)
            kind.validate(spec, options, settings.LBLAB_DATA_DIR)
            limits.check_plan(kind, spec, options)
        except ConfigError as e:
            self.add_error(e.field if e.field in self.fields else None, e.message)
        return cleaned

    def preset_key(self) -> str:
        """The chosen preset if the settings still match it (epochs, seeds and subset may change), else "custom"."""
        key = self.cleaned_data["preset"]
        if key.startswith("custom:"):
            return "custom"
        if key not in PRESETS:
            return "custom"
        preset = PRESETS[key]
        ours, theirs = self.spec().to_dict(), preset.spec.to_dict()
        for editable in EDITABLE:
            ours.pop(editable), theirs.pop(editable)
        same_kind = self.kind_chosen().name == preset.kind
        return key if same_kind and ours == theirs and self.options() == preset.options else "custom"
