"""A strict reader and a small evaluator for udev rules files, for checking the image's rules here.

Why not udev itself: `udevadm verify` only exists from systemd 254 (bookworm has 252), and running the
rules for real needs USB devices plugged in. The reader rejects anything udev would warn about (unknown
key, bad operator, unquoted value, GOTO without LABEL); the evaluator applies match keys (glob patterns,
"|" alternatives) and assignments the way udev does for one event, so tests can ask what a given device gets.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

KEYS_WITH_ATTR = {"ATTR", "ATTRS", "ENV", "SYSCTL", "TEST", "IMPORT", "RUN", "CONST", "SECLABEL"}
KEYS = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER",
        "DRIVERS", "TAG", "TAGS", "PROGRAM", "RESULT", "OWNER", "GROUP", "MODE", "OPTIONS", "LABEL", "GOTO",
        "RUN", "IMPORT", "TEST"} | KEYS_WITH_ATTR
TOKEN = re.compile(r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*'
                   r'"(?P<value>(?:[^"\\]|\\.)*)"\s*(?P<sep>,|$)')


class RuleSyntaxError(ValueError):
    pass


@dataclass
class Token:
    key: str
    attr: str | None
    op: str
    value: str


@dataclass
class Rule:
    line: int
    tokens: list[Token]


def parse(path: Path) -> list[Rule]:
    rules: list[Rule] = []
    labels: set[str] = set()
    gotos: list[tuple[int, str]] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens, pos = [], 0
        while pos < len(line):
            m = TOKEN.match(line, pos)
            if not m:
                raise RuleSyntaxError(f"{path.name}:{number}: cannot parse at column {pos + 1}: {line[pos:]!r}")
            key, attr, op = m["key"], m["attr"], m["op"]
            if key not in KEYS:
                raise RuleSyntaxError(f"{path.name}:{number}: unknown key {key}")
            if (attr is not None) != (key in KEYS_WITH_ATTR) and key not in {"RUN", "IMPORT", "TEST"}:
                raise RuleSyntaxError(f"{path.name}:{number}: {key} {'needs' if attr is None else 'takes no'} {{}}")
            if key in {"LABEL", "GOTO"} and op != "=":
                raise RuleSyntaxError(f"{path.name}:{number}: {key} takes '='")
            if key == "ACTION" and op not in {"==", "!="}:
                raise RuleSyntaxError(f"{path.name}:{number}: ACTION can only be matched")
            tokens.append(Token(key, attr, op, m["value"]))
            pos = m.end()
            if m["sep"] == "" and pos < len(line):
                raise RuleSyntaxError(f"{path.name}:{number}: missing ',' at column {pos + 1}")
        for t in tokens:
            if t.key == "LABEL":
                labels.add(t.value)
            if t.key == "GOTO":
                gotos.append((number, t.value))
        rules.append(Rule(number, tokens))
    for number, target in gotos:
        if target not in labels:
            raise RuleSyntaxError(f"{path.name}:{number}: GOTO {target} has no LABEL")
    return rules


@dataclass
class Event:
    """One uevent as the rules see it: action, subsystem, kernel name, properties, own and parents' attributes."""

    action: str
    subsystem: str
    kernel: str = "x"
    env: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    parent_attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    written_attrs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    group: str | None = None
    mode: str | None = None
    run: list[str] = field(default_factory=list)


def _matches(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    return any(fnmatch.fnmatchcase(value, alt) for alt in pattern.split("|"))


def evaluate(rules: list[Rule], event: Event) -> Outcome:
    out = Outcome(env=dict(event.env))
    index = 0
    while index < len(rules):
        rule = rules[index]
        index += 1
        matched = True
        for t in rule.tokens:
            if t.op not in {"==", "!="}:
                continue
            value = {"ACTION": event.action, "SUBSYSTEM": event.subsystem, "KERNEL": event.kernel,
                     "ENV": out.env.get(t.attr or ""), "ATTR": event.attrs.get(t.attr or ""),
                     "ATTRS": {**event.parent_attrs, **event.attrs}.get(t.attr or "")}.get(t.key)
            if t.key not in {"ACTION", "SUBSYSTEM", "KERNEL", "ENV", "ATTR", "ATTRS"}:
                raise NotImplementedError(f"line {rule.line}: matching on {t.key}")
            hit = _matches(t.value, value)
            if hit != (t.op == "=="):
                matched = False
                break
        if not matched:
            continue
        goto = None
        for t in rule.tokens:
            if t.op in {"==", "!="}:
                continue
            if t.key == "ATTR":
                out.written_attrs[t.attr or ""] = t.value
            elif t.key == "ENV":
                out.env[t.attr or ""] = t.value
            elif t.key == "GROUP":
                out.group = t.value
            elif t.key == "MODE":
                out.mode = t.value
            elif t.key == "RUN":
                out.run = [*out.run, t.value] if t.op == "+=" else [t.value]
            elif t.key == "GOTO":
                goto = t.value
        if goto is not None:
            index = next(i for i, r in enumerate(rules) if any(t.key == "LABEL" and t.value == goto
                                                                for t in r.tokens))
    return out
