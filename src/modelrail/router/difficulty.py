"""The difficulty router: a virtual model that scores a request and picks a cheap or premium alias.

The score is a sum of configured rules over cheap features of the request (estimated prompt
length, code, math, tools, conversation depth, keywords). No model is called to decide, so the
choice adds microseconds, and it is explained in the ``x-modelrail-route-reason`` header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modelrail.protocol.base import JSONObject
from modelrail.router.config import AutoSettings, DifficultyRule

# Every repetition in these patterns is bounded and every unbounded one anchored at a word
# boundary, so a match attempt costs a bounded number of steps from any position; and only the
# first and last ``_SCAN`` characters of the text are scanned. A request of any size and shape is
# scored in time linear in at most 2 * _SCAN characters (a 100,000-character word took 28 s with
# the unbounded patterns).
_CODE = re.compile(
    r"```|^\s{4}\S|\bdef \w{1,64}\(|\bclass \w{1,64}[:(]|\bfunction \w{0,64}\(|\breturn\b[^\n]{0,200};|=>|#include"
    r"|\bimport \w|\bSELECT\b[^\n]{1,300}?\bFROM\b|\b(?:public|private|static) \w|[{};]\s{0,16}$"
    r"|\b\w{1,64}\([^)\n]{0,200}\)\s{0,16}\{|Traceback \(most recent",
    re.MULTILINE,
)
_MATH = re.compile(
    r"\\(?:frac|int|sum|sqrt|lim|prod|partial)|\$[^$\n]{1,200}\$|\b(?:integral|derivative|theorem|lemma|eigen\w{0,32}|"
    r"matrix|polynomial|probability|modulo|prime numbers?|logarithm|differential equation|induction)\b"
    r"|\b\d{1,32}[ ]{0,4}[\^*/][ ]{0,4}\d|[a-z]\^\d|∫|∑|√|≤|≥",
    re.IGNORECASE,
)
_SCAN = 2048


# Keywords are plain substring searches (linear, in C): a wider window, still bounded.
_KEYWORD_SCAN = 16_384


def _scanned(raw: str, scan: int = _SCAN) -> str:
    if len(raw) <= 2 * scan:
        return raw
    return raw[:scan] + "\n" + raw[-scan:]


@dataclass(slots=True, frozen=True)
class Choice:
    alias: str
    tier: str  # "cheap" or "premium"
    score: float
    reason: str


class DifficultyRouter:
    def __init__(self, settings: AutoSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.name

    def choose(self, body: JSONObject) -> Choice:
        features = extract(body)
        score = 0.0
        parts: list[str] = []
        for rule in self.settings.rules:
            points, why = _apply(rule, features)
            if points:
                score += points
                parts.append(f"{why}({points:+g})")
        premium = score >= self.settings.threshold
        tier = "premium" if premium else "cheap"
        alias = self.settings.premium if premium else self.settings.cheap
        cmp = ">=" if premium else "<"
        reason = f"{tier}: score {score:g} {cmp} {self.settings.threshold:g}" + (
            f"; {', '.join(parts)}" if parts else ""
        )
        return Choice(alias=alias, tier=tier, score=score, reason=reason)


@dataclass(slots=True, frozen=True)
class Features:
    text: str  # the user-side text, lower-cased: its first and last _KEYWORD_SCAN characters
    raw: str
    tokens: int
    user_turns: int
    tools: int


def extract(body: JSONObject) -> Features:
    messages = body.get("messages")
    texts: list[str] = []
    user_turns = 0
    if isinstance(messages, list):
        for m in messages:
            if not isinstance(m, dict):
                continue
            if m.get("role") == "user":
                user_turns += 1
            if m.get("role") in ("user", "system", "developer", "tool"):
                texts.append(_text_of(m.get("content")))
    else:
        prompt = body.get("prompt")
        texts.append(prompt if isinstance(prompt, str) else "")
        user_turns = 1
    raw = "\n".join(texts)
    tools = body.get("tools")
    return Features(
        text=_scanned(raw, _KEYWORD_SCAN).lower(),
        raw=raw,
        # About four characters per token in English; close enough to rank difficulty.
        tokens=len(raw) // 4,
        user_turns=user_turns,
        tools=len(tools) if isinstance(tools, list) else 0,
    )


def _apply(rule: DifficultyRule, f: Features) -> tuple[float, str]:
    if rule.kind == "length":
        step = rule.threshold or 400
        steps = min(f.tokens // step, 3)
        return rule.points * steps, f"length~{f.tokens}tok"
    if rule.kind == "code":
        return (rule.points, "code") if _CODE.search(_scanned(f.raw)) else (0.0, "")
    if rule.kind == "math":
        return (rule.points, "math") if _MATH.search(_scanned(f.raw)) else (0.0, "")
    if rule.kind == "tools":
        return (rule.points, f"tools={f.tools}") if f.tools else (0.0, "")
    if rule.kind == "depth":
        return (rule.points, f"turns={f.user_turns}") if f.user_turns >= (rule.threshold or 4) else (0.0, "")
    found = [w for w in rule.words if w.lower() in f.text]
    if not found:
        return 0.0, ""
    points = rule.points * len(found)
    if rule.max_points is not None:
        points = max(points, rule.max_points) if rule.points < 0 else min(points, rule.max_points)
    return points, "keywords:" + "|".join(found[:3])


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
