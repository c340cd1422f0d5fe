"""Griffe extension: an event function that overrides BaseTrainer's shows the base's parameters.

BeGin's reference lists, for every trainer, each event with its parameters and returns. In
cgl a method's mixin overrides an event with a docstring that says what the method does
there; the parameters are the base event's. Griffe's docstring inheritance follows a class's
own bases, and a mixin's bases do not include BaseTrainer (the generated trainers combine the
two), hence this hook: written by hand because it must know which functions are events.
"""

from __future__ import annotations

from typing import Any

from griffe import Class, Docstring, Extension, Module, Object

BASE = "trainers.base.BaseTrainer"


def _sections(text: str) -> tuple[str, str]:
    """A docstring split into its prose and its Google sections (from `Args:` on)."""
    for marker in ("\nArgs:", "\nReturns:"):
        at = text.find(marker)
        if at >= 0:
            return text[:at].strip(), text[at:].strip()
    return text.strip(), ""


def _classes(obj: Object) -> list[Class]:
    found: list[Class] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            found.append(member)
        if member.is_module or member.is_class:
            found += _classes(member)
    return found


class EventDocstrings(Extension):
    """Append BaseTrainer's Args/Returns to every event override that has none."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        if pkg.name != "cgl":
            return
        base = pkg[BASE]
        events = {}
        for name, member in base.members.items():
            if member.is_function and member.docstring and name[0].islower():
                prose, sections = _sections(member.docstring.value)
                if sections:
                    events[name] = (prose, sections, member.docstring)
        for cls in _classes(pkg):
            if cls.path == base.path:
                continue
            for name, (prose, sections, like) in events.items():
                member = cls.members.get(name)
                if member is None or member.is_alias or not member.is_function:
                    continue
                own = member.docstring.value.strip() if member.docstring else ""
                if "Args:" in own or "Returns:" in own:
                    continue
                text = "\n\n".join(part for part in (prose, own, sections) if part)
                member.docstring = Docstring(
                    text, parent=member, parser=like.parser, parser_options=like.parser_options
                )
