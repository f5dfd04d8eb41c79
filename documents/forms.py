from django import forms

from documents.models import Document


class UploadForm(forms.Form):
    file = forms.FileField(help_text="PDF, Word (DOCX), text, Markdown or HTML.")
    title = forms.CharField(max_length=200, required=False, help_text="Optional; the file name otherwise.")


class ShareForm(forms.Form):
    """``share`` is "private", "everyone" or "group:<id>"."""

    share = forms.RegexField(regex=r"^(private|everyone|group:\d+)$")

    def visibility_and_group(self) -> tuple[str, int | None]:
        value = self.cleaned_data["share"]
        if value.startswith("group:"):
            return Document.Visibility.GROUP, int(value.split(":", 1)[1])
        return value, None
