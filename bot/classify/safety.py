"""The adverse-event safety layer. It can only raise a category, never lower one.

It catches what a statistical model under-weighs: a current, personal symptom described in any words, and
a model that is unsure between an adverse event and something else ("when in doubt, page").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.domain import Category

# Floors: if the model gives a class at least this much probability, the message is treated as that class.
ADVERSE_FLOOR = 0.22
MEDICAL_FLOOR = 0.40

_SYMPTOMS = [
    r"swell\w*", r"swollen", r"puff\w*", r"inflam\w*", r"hinchad\w*", r"hinchaz\w*", r"inchad\w*",
    r"bump\w*", r"lump\w*", r"knot\w*", r"nodul\w*", r"bolit\w*", r"bola", r"bulto\w*", r"nodulo\w*",
    r"blister\w*", r"ampolla\w*", r"pus", r"oozing", r"ooze\w*", r"weep\w*", r"crust\w*", r"costra\w*",
    r"rash\w*", r"hives", r"ronchas?", r"sarpullido", r"salpullido", r"urticaria",
    r"droop\w*", r"ca[ií]d[oa]", r"asymmetr\w*", r"lopsided", r"crooked", r"uneven", r"chuec[oa]",
    r"blurr\w*", r"borros\w*", r"double vision", r"vision", r"fever\w*", r"fiebre", r"chills", r"escalofr\w*",
    r"numb\w*", r"tingl\w*", r"entumid\w*", r"adormecid\w*", r"hormigue\w*",
    r"blanch\w*", r"dusky", r"mottled", r"grey(ish)?", r"gray(ish)?", r"bluish", r"purple",
    r"infect\w*", r"infecci[oó]n", r"burn\w*", r"quemad\w*", r"quema", r"arde", r"ardor",
    r"hurts?", r"hurting", r"pain\w*", r"painful", r"dolor\w*", r"duele\w*", r"sore", r"throbb\w*", r"ache\w*",
    r"bruis\w*", r"moret\w*", r"morad[oa]", r"red(ness)?", r"enrojec\w*", r"roj[oa]", r"hot", r"warm",
    r"caliente", r"itch\w*", r"pica\w*", r"comez[oó]n", r"hard", r"dur[oa]", r"tight\w*", r"tirante",
    r"headache", r"dolor de cabeza", r"migra[ií]?n\w*", r"dizz\w*", r"faint\w*", r"mare\w*", r"desmay\w*",
    r"vomit\w*", r"v[oó]mit\w*", r"nause\w*", r"swallow\w*", r"tragar", r"breath\w*", r"respirar",
    r"can'?t close", r"cannot close", r"no puedo cerrar", r"drool\w*", r"scab\w*", r"peeling", r"raw",
]
_SYMPTOM = re.compile(r"\b(" + "|".join(_SYMPTOMS) + r")\b")

# Signs the symptom is the writer's, now: first person, time since treatment, worsening.
_CURRENT = re.compile(
    r"\b(my|i have|i've got|i got|i'?m|im|still|since|after|now|today|tonight|this morning|yesterday|"
    r"getting worse|worse|spreading|keeps?|won'?t go|hasn'?t gone|days? (later|ago|after)|"
    r"tengo|me sali[oó]|me (duele|arde|pica)|mi|mis|desde|despu[eé]s|ahora|hoy|ayer|todav[ií]a|sigue|"
    r"cada vez|empeor\w*|se me)\b"
)
# The symptom is denied, gone, or only imagined.
_NOT_CURRENT = re.compile(
    r"\b(no|not|never|without|zero|sin|ya no|nunca)\s+(\w+\s+){0,2}"
    r"(swell\w*|swollen|bruis\w*|pain\w*|hinchaz\w*|moret\w*|dolor\w*|redness|bump\w*|issues?|problems?|"
    r"side effects?|reaction\w*)\b"
    r"|\b(gone|went away|went down|healed|resolved|cleared up|all good|desapareci[oó]|se (me )?quit[oó])\b"
    r"|\b(will i|would i|could i|might i|what if|is it (common|normal) to|how long does|how long do|"
    r"voy a|va a|es normal que despu[eé]s|before (my|the|i)|antes de)\b"
)


@dataclass(frozen=True)
class SafetyVerdict:
    category: Category
    reasons: tuple[str, ...]


def fold(text: str) -> str:
    lowered = text.lower().replace("’", "'")
    return unicodedata.normalize("NFC", lowered)


def symptom_cue(text: str) -> str | None:
    """The symptom word if the message reports a current symptom of the writer's, else None."""
    folded = fold(text)
    match = _SYMPTOM.search(folded)
    if not match or not _CURRENT.search(folded) or _NOT_CURRENT.search(folded):
        return None
    return match.group(0)


def raise_category(model_choice: Category, scores: dict[Category, float], text: str) -> SafetyVerdict:
    """Apply the floors; the result is never less severe than `model_choice`."""
    if model_choice is Category.ADVERSE_EVENT:
        return SafetyVerdict(model_choice, ())
    adverse = scores.get(Category.ADVERSE_EVENT, 0.0)
    if adverse >= ADVERSE_FLOOR:
        return SafetyVerdict(
            Category.ADVERSE_EVENT, (f"safety: adverse-event likelihood {adverse:.2f} ≥ {ADVERSE_FLOOR}",)
        )
    cue = symptom_cue(text)
    if cue is not None and model_choice in (Category.CLINICAL, Category.BILLING, Category.BOOKING):
        return SafetyVerdict(Category.ADVERSE_EVENT, (f"safety: current symptom reported ('{cue}')",))
    medical = adverse + scores.get(Category.CLINICAL, 0.0)
    if model_choice.severity < Category.CLINICAL.severity and medical >= MEDICAL_FLOOR:
        return SafetyVerdict(Category.CLINICAL, (f"safety: medical likelihood {medical:.2f} ≥ {MEDICAL_FLOOR}",))
    return SafetyVerdict(model_choice, ())
