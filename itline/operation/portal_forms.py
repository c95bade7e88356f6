"""Forms of the requester portal: submit a request, reply, add attachments. They only
validate input (sizes, lengths, the service being in the catalogue); the writes are the
intake and message verbs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from itline.cmdb.choices import Lifecycle
from itline.cmdb.models import Service
from itline.operation.choices import RequestType
from itline.operation.services.messages import max_attachment_bytes
from itline.org.models import Customer

MAX_FILES = 10

# What each type means to someone who is not in IT; shown next to the choice.
TYPE_HELP: dict[str, str] = {
    RequestType.FAULT_REPORT: "Something is broken or does not work as it should.",
    RequestType.QUESTION: "You need information or advice.",
    RequestType.ORDER: "You want something: access, a device, software, a service.",
    RequestType.COMPLAINT: "You are unhappy with how a service or the service desk performed.",
    RequestType.IMPROVEMENT_PROPOSAL: "An idea that would make a service better.",
}
# Fault reports first: they are the most common reason people come to the portal.
TYPE_ORDER = (
    RequestType.FAULT_REPORT,
    RequestType.QUESTION,
    RequestType.ORDER,
    RequestType.COMPLAINT,
    RequestType.IMPROVEMENT_PROPOSAL,
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Zero or more uploaded files; each one is checked against the size limit."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if not files:
            if self.required:
                raise forms.ValidationError("Choose at least one file.", code="required")
            return []
        if len(files) > MAX_FILES:
            raise forms.ValidationError(
                f"Attach at most {MAX_FILES} files at once (you chose {len(files)}).",
                code="too_many",
            )
        # The verb checks too; checking here names every offending file at once, before
        # anything is written.
        limit = max_attachment_bytes()
        errors = []
        for f in files:
            if not f.name:
                errors.append("A file without a name was sent; choose the file again.")
            elif f.size is not None and f.size > limit:
                size, most = filesizeformat(f.size), filesizeformat(limit)
                if size == most:  # rounded alike: "10.0 MB; at most 10.0 MB" would puzzle
                    size, most = f"{f.size:,} bytes", f"{limit:,} bytes"
                errors.append(f"“{f.name}” is {size}; files may be at most {most}.")
            elif f.size == 0:
                errors.append(f"“{f.name}” is empty.")
        if errors:
            raise forms.ValidationError(errors)
        return files


def _attachments_field(required: bool = False) -> MultipleFileField:
    return MultipleFileField(label="Attachments", required=required)


class _WithFiles(forms.Form):
    """Names the size limit in force now (it is a setting) next to the file field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = (
            f"Screenshots or documents that help: up to {MAX_FILES} files, at most "
            f"{filesizeformat(max_attachment_bytes())} each."
        )


def catalogue_choices(customer: Customer | None) -> list[tuple[Any, Any]]:
    """Catalogue-visible services, those the requester's customer uses listed first."""
    services = list(
        Service.objects.filter(catalogue_visible=True)
        .exclude(lifecycle=Lifecycle.RETIRED)
        .only("id", "name", "reference")
        .order_by("name")
    )
    mine: set[int] = set()
    if customer is not None:
        mine = set(
            Service.objects.filter(catalogue_visible=True, customers=customer).values_list(
                "id", flat=True
            )
        )
    ours = [(s.pk, s.name) for s in services if s.pk in mine]
    others = [(s.pk, s.name) for s in services if s.pk not in mine]
    choices: list[tuple[Any, Any]] = [("", "Not sure / not listed")]
    if ours:
        choices.append((f"Services of {customer}", ours))
        if others:
            choices.append(("Other services", others))
    else:
        choices.extend(others)
    return choices


class RequestForm(_WithFiles):
    request_type = forms.ChoiceField(
        label="What is it about?",
        choices=[(t.value, t.label) for t in TYPE_ORDER],
        widget=forms.RadioSelect,
        initial=RequestType.FAULT_REPORT,
    )
    service = forms.TypedChoiceField(
        label="Service",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="The service it concerns, if you know it.",
    )
    title = forms.CharField(
        label="Short summary",
        max_length=200,
        help_text="One line, e.g. “Label printer in hall 3 prints blank labels”.",
    )
    description = forms.CharField(
        label="Details",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text="What happened, since when, who is affected, what you already tried.",
    )
    attachments = _attachments_field()

    def __init__(self, *args: Any, customer: Customer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = catalogue_choices(customer)  # type: ignore[attr-defined]

    def clean_title(self) -> str:
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise forms.ValidationError("Give your request a short summary.")
        return title

    def clean_service(self) -> Service | None:
        pk = self.cleaned_data.get("service")
        if pk is None:
            return None
        # The choice list was built from the catalogue; re-read so a service hidden since
        # the form was shown is refused rather than silently accepted.
        service = (
            Service.objects.filter(pk=pk, catalogue_visible=True)
            .exclude(lifecycle=Lifecycle.RETIRED)
            .first()
        )
        if service is None:
            raise forms.ValidationError("Choose a service from the list.")
        return service


class ReplyForm(_WithFiles):
    body = forms.CharField(
        label="Your reply",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    attachments = _attachments_field()

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write a reply first.")
        return str(body)


class AttachForm(_WithFiles):
    attachments = MultipleFileField(label="Add files", required=True)
