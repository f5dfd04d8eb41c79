from django import forms
from django.core.files.uploadedfile import UploadedFile

from documents.models import Document
from documents.selectors import SORTS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (Django's documented recipe): each is checked like a single FileField."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    """The page's one upload control; without JavaScript it posts here, with it each file goes to the API."""

    file = MultipleFileField(
        label="Files",
        widget=MultipleFileInput(attrs={"aria-describedby": "upload-help"}),
        help_text="PDF, Word (DOCX), text, Markdown or HTML; several at once.",
    )


SORT_CHOICES = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("name", "Name A–Z"),
    ("name_desc", "Name Z–A"),
    ("largest", "Largest first"),
    ("smallest", "Smallest first"),
    ("status", "Status (failed first)"),
]
assert {value for value, _ in SORT_CHOICES} == set(SORTS)


class LibraryFilterForm(forms.Form):
    """The library's filter and sort, from the query string: a plain GET form, so it works without JavaScript."""

    q = forms.CharField(label="Name contains", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *Document.Status.choices])
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORT_CHOICES)

    def query(self) -> dict:
        """What to pass to selectors.document_list; an invalid value is ignored rather than refused."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {"q": data["q"], "status": data["status"] or None, "sort": data["sort"] or "newest"}


class ShareForm(forms.Form):
    """``share`` is "private", "everyone" or "group:<id>"."""

    share = forms.RegexField(regex=r"^(private|everyone|group:\d+)$")

    def visibility_and_group(self) -> tuple[str, int | None]:
        value = self.cleaned_data["share"]
        if value.startswith("group:"):
            return Document.Visibility.GROUP, int(value.split(":", 1)[1])
        return value, None
