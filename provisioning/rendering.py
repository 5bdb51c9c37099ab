"""The form renderer: Django's, with the common widgets written in Python.

Django renders every widget through a template, and a select or radio group through
one more template per option. On the device builder that was about a third of the
page's CPU (text inputs, the credential and policy radios, the selects), on history
the filter form's inputs. The functions below write the markup those templates write,
byte for byte (tests/test_rendering.py renders every case both ways), for the input,
textarea, select and radio/checkbox-group templates. Anything else, or an option with
a template of its own, goes to the templates as before.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData

WIDGETS = "django/forms/widgets/"


def _shown(value):
    """``{{ value }}``: localized, then escaped unless already safe."""
    return conditional_escape(localize(value))


def _formatted(value):
    """``{{ value|stringformat:'s' }}``: str(), then escaped unless the value was safe."""
    if isinstance(value, SafeData):
        return value
    return conditional_escape(str(value))


def _attrs(attrs):
    """attrs.html: False leaves an attribute out, True writes its bare name."""
    return "".join(
        f" {_shown(name)}" if value is True else f' {_shown(name)}="{_formatted(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget):
    """input.html (text, password, date, hidden, checkbox, ...)."""
    value = "" if widget["value"] is None else f' value="{_formatted(widget["value"])}"'
    kind, name = _shown(widget["type"]), _shown(widget["name"])
    return f'<input type="{kind}" name="{name}"{value}{_attrs(widget["attrs"])}>'


def _textarea(widget):
    value = _shown(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{_shown(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


# A template file ends with a newline, and an included one keeps it: only the outermost
# template's output is stripped (BaseRenderer.render). Hence the "\n"s after included parts.


def _option(option):
    """select_option.html."""
    value, label = _formatted(option["value"]), _shown(option["label"])
    return f'<option value="{value}"{_attrs(option["attrs"])}>{label}</option>\n'


def _choice_input(option):
    """radio_option.html or checkbox_option.html: input_option.html, an input in its label."""
    if not option["wrap_label"]:
        return f"{_input(option)}\n\n\n"
    target = f' for="{_shown(option["attrs"]["id"])}"' if option["attrs"].get("id") else ""
    return f"<label{target}>{_input(option)}\n {_shown(option['label'])}</label>\n\n"


def _options_use(widget, template):
    return all(
        option["template_name"] == template for _, options, _ in widget["optgroups"] for option in options
    )


def _select(widget):
    if not _options_use(widget, WIDGETS + "select_option.html"):
        return None
    parts = [f'<select name="{_shown(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group, options, _index in widget["optgroups"]:
        if group:
            parts.append(f'\n  <optgroup label="{_shown(group)}">')
        parts.extend(f"\n  {_option(option)}" for option in options)
        if group:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _choice_inputs(option_template):
    """multiple_input.html (a radio or checkbox group), with options of ``option_template``."""

    def write(widget):
        if not _options_use(widget, WIDGETS + option_template):
            return None
        attrs = widget["attrs"]
        head = f' id="{_shown(attrs["id"])}"' if attrs.get("id") else ""
        if attrs.get("class"):
            head += f' class="{_shown(attrs["class"])}"'
        parts = [f"<div{head}>"]
        for group, options, _index in widget["optgroups"]:
            if group:
                parts.append(f"\n  <div><label>{_shown(group)}</label>")
            parts.extend(f"<div>\n    {_choice_input(option)}</div>" for option in options)
            if group:
                parts.append("\n  </div>")
        parts.append("\n</div>")
        return "".join(parts)

    return write


WRITERS = {
    **{
        f"{WIDGETS}{name}.html": _input
        for name in (
            "input",
            "text",
            "email",
            "password",
            "number",
            "url",
            "search",
            "tel",
            "color",
            "date",
            "datetime",
            "time",
            "hidden",
            "checkbox",
        )
    },
    WIDGETS + "textarea.html": _textarea,
    WIDGETS + "select.html": _select,
    WIDGETS + "radio.html": _choice_inputs("radio_option.html"),
    WIDGETS + "checkbox_select.html": _choice_inputs("checkbox_option.html"),
}


class FormRenderer(DjangoTemplates):
    """settings.FORM_RENDERER: the widgets above in Python, everything else from templates."""

    def render(self, template_name, context, request=None):
        write = WRITERS.get(template_name)
        if write is not None and "widget" in context:
            html = write(context["widget"])
            if html is not None:
                return html
        return super().render(template_name, context, request)
