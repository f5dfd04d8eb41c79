"""The registry in the admin, for admins only: models with their aliases (moved here, effective at the next
request), versions (read-only once made; added by uploading a skops file), approved artifact types, and training
jobs (retrain a built-in model from a labelled CSV, on the worker, with its status and log)."""

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from accounts.permissions import can_manage_ml_models
from core.errors import ServiceError
from ml import artifacts, services, tasks
from ml.builtins import BUILTINS
from ml.models import ApprovedType, ModelAlias, ModelVersion, RegisteredModel, TrainingJob
from ml.schema import parse_schema


class AdminsOnly:
    """Every ML page of the admin is the admins' (the role's ``manage_policies`` capability)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_manage_ml_models(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_ml_models(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_ml_models(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_ml_models(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return can_manage_ml_models(request.user)


class AliasInline(AdminsOnly, admin.TabularInline):
    model = ModelAlias
    fields = ("name", "version", "updated_by", "updated_at")
    readonly_fields = ("updated_by", "updated_at")
    extra = 1

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "version":  # an alias names a version of its own model
            model_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = ModelVersion.objects.filter(model_id=model_id).select_related("model")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class VersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "source", "metrics", "sklearn_version", "training_rows", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RegisteredModel)
class RegisteredModelAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("name", "kind", "builtin", "aliases_shown", "created_at")
    readonly_fields = ("builtin", "created_at")
    inlines = [AliasInline, VersionInline]
    actions = ["retrain"]

    @admin.display(description="aliases")
    def aliases_shown(self, model: RegisteredModel) -> str:
        return ", ".join(f"{alias.name} → v{alias.version.number}" for alias in model.aliases.select_related("version"))

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        return (*self.readonly_fields, "name") if obj is not None else self.readonly_fields

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not ModelAlias:
            return super().save_formset(request, form, formset, change)
        # What the admin's history message reads (Django's own save would have set these).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for deleted in formset.deleted_forms:
            if deleted.instance.pk:
                deleted.instance.delete()
                formset.deleted_objects.append(deleted.instance)
        for alias_form in formset.forms:
            data = alias_form.cleaned_data
            if alias_form in formset.deleted_forms or not data or not alias_form.has_changed():
                continue
            try:  # through the service, so the admin and the API move an alias the same way
                row = services.alias_set(
                    model=form.instance, name=data["name"], version=data["version"], actor=request.user
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            if alias_form.instance.pk:
                formset.changed_objects.append((row, alias_form.changed_data))
            else:
                formset.new_objects.append(row)
        return None

    @admin.action(description="Retrain from a labelled CSV")
    def retrain(self, request: HttpRequest, queryset: QuerySet) -> HttpResponseRedirect | None:
        model = queryset.first()
        if queryset.count() != 1 or model.name not in {spec.name for spec in BUILTINS}:
            self.message_user(request, "Choose one built-in model to retrain.", messages.ERROR)
            return None
        return HttpResponseRedirect(f"{reverse('admin:ml_trainingjob_add')}?model={model.pk}")


class UploadVersionForm(forms.ModelForm):
    """A version made elsewhere: its skops file is checked from its bytes (a pickle is refused unopened)."""

    artifact_file = forms.FileField(label="skops file", help_text="Saved with skops.io.dump; pickles are refused.")
    sklearn_version = forms.CharField(initial=artifacts.library_versions()["sklearn_version"])
    alias = forms.CharField(required=False, help_text="Move this alias (e.g. staging) to the new version.")

    class Meta:
        model = ModelVersion
        fields = ("model", "input_format", "input_schema", "output")

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            parse_schema(cleaned.get("input_schema"))
            upload = cleaned.get("artifact_file")
            if upload is not None:
                artifacts.inspect(upload.read())  # reads bytes and the schema only
                upload.seek(0)
        except ServiceError as exc:
            self.add_error("input_schema" if exc.param == "input_schema" else "artifact_file", exc.message)
        return cleaned


@admin.register(ModelVersion)
class ModelVersionAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("__str__", "source", "sklearn_version", "training_rows", "created_by", "created_at")
    list_filter = ("model", "source")
    readonly_fields = (
        "model", "number", "artifact", "sha256", "size_bytes", "sklearn_version", "skops_version", "python_version",
        "numpy_version", "input_format", "schema_shown", "output", "metrics", "untrusted_types", "source",
        "training_rows", "created_by", "created_at",
    )  # fmt: skip
    exclude = ("input_schema",)

    @admin.display(description="input schema")
    def schema_shown(self, version: ModelVersion) -> str:
        return format_html("<pre>{}</pre>", json.dumps(version.input_schema, indent=2))

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a version never changes: retrain or upload the next one

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = UploadVersionForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        return self.readonly_fields if obj is not None else ()

    def get_exclude(self, request: HttpRequest, obj=None):
        return self.exclude if obj is not None else None

    def save_model(self, request: HttpRequest, obj: ModelVersion, form: UploadVersionForm, change: bool) -> None:
        data = form.cleaned_data
        version = services.version_upload(
            model=data["model"],
            upload=data["artifact_file"],
            input_format=data["input_format"],
            input_schema=data["input_schema"],
            output=data.get("output") or {},
            sklearn_version=data["sklearn_version"],
            actor=request.user,
            alias=data.get("alias") or "",
        )
        # The admin goes on with ``obj`` (its message and redirect): make it the version the service made.
        obj.pk, obj.number, obj._state.adding = version.pk, version.number, False


@admin.register(ApprovedType)
class ApprovedTypeAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("name", "approved", "approved_by", "approved_at", "note")
    list_filter = ("approved",)
    fields = ("name", "approved", "note", "approved_by", "approved_at")
    readonly_fields = ("approved_by", "approved_at")

    def save_model(self, request: HttpRequest, obj: ApprovedType, form, change: bool) -> None:
        if change and not obj.approved:
            services.type_revoke(row=obj)
            return
        saved = services.type_approve(name=obj.name, actor=request.user, note=obj.note)
        obj.pk, obj._state.adding = saved.pk, False


class TrainingJobForm(forms.ModelForm):
    class Meta:
        model = TrainingJob
        fields = ("model", "csv", "alias")
        help_texts = {
            "csv": "house-price: the columns of ml/data/house_prices.csv; text-topic: text,label (docs/ml.md).",
            "alias": "Move this alias (e.g. production) to the new version when training succeeds.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "model" in self.fields:  # on the add form; a job's own page shows it read-only
            self.fields["model"].queryset = RegisteredModel.objects.filter(name__in=[spec.name for spec in BUILTINS])


@admin.register(TrainingJob)
class TrainingJobAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("__str__", "model", "status", "reason", "version", "requested_by", "created_at", "finished_at")
    list_filter = ("status", "model")
    readonly_fields = (
        "model", "csv", "alias", "status", "reason", "log_shown", "version", "requested_by", "created_at",
        "started_at", "finished_at",
    )  # fmt: skip
    form = TrainingJobForm

    @admin.display(description="log (tail)")
    def log_shown(self, job: TrainingJob) -> str:
        return format_html("<pre>{}</pre>", job.log_tail or "—")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj=None) -> tuple:
        return self.readonly_fields if obj is not None else ("model", "csv", "alias")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"model": request.GET.get("model")}

    def save_model(self, request: HttpRequest, obj: TrainingJob, form: TrainingJobForm, change: bool) -> None:
        data = form.cleaned_data
        job = services.training_job_create(
            model=data["model"], csv=data["csv"], alias=data.get("alias") or "", actor=request.user
        )
        tasks.training_start(job.pk)
        obj.pk, obj._state.adding = job.pk, False
