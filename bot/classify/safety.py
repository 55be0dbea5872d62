"""The adverse-event safety layer. It can only raise a category, never lower one.

It catches what a statistical model under-weighs, and only where the model itself sees something medical:
- a model unsure between an adverse event and something else ("when in doubt, page": `ADVERSE_FLOOR`);
- a current, personal symptom (`symptom_cue`) in a message the model gives real adverse-event probability
  (`CUE_ADVERSE_FLOOR`), or real medical probability while it reads it as routine (`CUE_MEDICAL_FLOOR`): "it
  hurts" about a double charge, "hard to find parking" and "still sore about the late fee" are words, not
  symptoms, and the model is 99% sure of it;
- an emergency sign a treatment can cause (`alarm_cue`: skin turning white, grey or blue, cold to the touch,
  losing sight, trouble breathing or swallowing), whatever the model says.
Whether a symptom is someone else's, imagined or asked about ("what if", "my sister", "first time") is read in
the part of the message that names it, not in the whole message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.domain import Category

# Floors: if the model gives a class at least this much probability, the message is treated as that class.
ADVERSE_FLOOR = 0.30
MEDICAL_FLOOR = 0.30
# A routine-looking message that asks a provider-type question (dose, age, medication, safety, travel or
# combining around a treatment) is clinical at this lower medical likelihood.
MEDICAL_CUE_FLOOR = 0.10
# A reported current symptom raises to an adverse event where the model gives it at least this adverse-event
# probability, or (read as routine) this medical probability: measured on 5-fold cross-validation of the
# training data, every adverse event the model alone missed is above both (scripts/eval_safety.py).
CUE_ADVERSE_FLOOR = 0.08
CUE_MEDICAL_FLOOR = 0.15
# Model choices that a reported current symptom raises to an adverse event.
CUE_RAISES = frozenset(Category) - {Category.ADVERSE_EVENT}

_SYMPTOMS = [
    r"swell\w*", r"swollen", r"puff\w*", r"inflam\w*", r"hinch\w*", r"inchad\w*", r"inchaz\w*",
    r"bumps?(?!\s+(my|the|it|me|up|out|back|our|into)\b)", r"bumpy", r"lump\w*", r"knot\w*", r"nodul\w*",
    r"bolit\w*", r"bola", r"bulto\w*", r"bultit\w*", r"n[oó]dulo\w*",
    r"blister\w*", r"ampolla\w*", r"pus", r"oozing", r"ooze\w*", r"weep\w*", r"crust\w*", r"costra\w*",
    r"rash\w*", r"hives", r"ronchas?", r"sarpullido", r"salpullido", r"urticaria",
    r"droop\w*", r"ca[ií]d[oa]", r"se me cay[oó]", r"asymmetr\w*", r"lopsided", r"crooked", r"uneven",
    r"chuec[oa]", r"blurr\w*", r"borros\w*", r"double vision", r"vision", r"fever\w*", r"fiebre", r"chills",
    r"escalofr\w*", r"numb(ness|ed)?", r"tingl\w*", r"entumid\w*", r"adormecid\w*", r"hormigue\w*",
    r"(cara|boca|labios?|piel|frente|zona|mejillas?) (\w+ )?dormid[oa]s?",
    r"blanch\w*", r"dusky", r"mottled", r"grey(ish)?", r"gray(ish)?", r"bluish", r"purple",
    r"infect\w*", r"infecci[oó]n", r"burn(s|ed|ing|t)?", r"quem\w*", r"arde", r"ardor",
    r"hurts?", r"hurting", r"pain\w*", r"painful", r"dolor\w*", r"duel[ea]\w*", r"sore", r"throbb\w*",
    r"ache\w*", r"bruis\w*", r"moret\w*", r"morad[oa]", r"red(ness)?", r"enrojec\w*", r"roj[oa]",
    r"(hot|warm|caliente) (to the touch|al tacto)", r"feels? (so |really |very )?(hot|warm)",
    r"(se siente|est[aá]) caliente", r"itch\w*", r"pica\w*", r"comez[oó]n", r"hard", r"duros|duras",
    r"(est[aá]n?|siento|se siente|se sienten|quedaron|qued[oó]) (muy )?dur[oa]s?", r"endurec\w*",
    r"tightness", r"feels? (so |really |very )?tight", r"tirante",
    r"headache", r"dolor de cabeza", r"migra[ií]?n\w*", r"dizz\w*", r"faint\w*", r"mare\w*", r"desmay\w*",
    r"vomit\w*", r"v[oó]mit\w*", r"nause\w*", r"swallow\w*", r"tragar", r"breath\w*", r"respirar",
    r"can'?t close", r"cannot close", r"no puedo cerrar", r"drool\w*", r"scab\w*", r"raw",
]
_SYMPTOM = re.compile(r"\b(" + "|".join(_SYMPTOMS) + r")\b")

# Emergencies a treatment can cause that page whatever the model says: a blocked blood vessel (the skin turns
# white, grey, blue or blotchy, goes cold), sight affected, breathing or swallowing trouble.
_SKIN = (r"(skin|lips?|area|spot|nose|cheeks?|chin|forehead|it|they|labios?|piel|zona|nariz|mejillas?|frente)")
_ALARMS = [
    _SKIN + r"( \w+){0,4} (turn\w*|went|gone|go(es)?|look\w*|is|are|got|getting|se (puso|pone|ve)|est[aá]n?) "
    r"(\w+ ){0,2}(white|pale|grey|gray|blue|bluish|purple|dusky|mottled|blotchy|blanc[oa]s?|p[aá]lid[oa]s?|"
    r"azul(es)?|moradas?|morados?|gris)",
    r"(white|pale|dusky|mottled|blotchy|bluish) (and|&) (cold|fr[ií]a)", r"(cold|fr[ií][oa]) (to the touch|al tacto)",
    _SKIN + r"( \w+){0,3} (feels?|is|are|se siente|est[aá]n?) (\w+ )?(cold|icy|fr[ií][oa]s?|helad[oa]s?)",
    r"(can'?t|cannot|can not|couldn'?t|unable to) see (\w+ ){0,2}(out of|from|with|well|clearly|properly|"
    r"anything|straight|in my)", r"(eyes?|ojos?)( \w+){0,4} (can'?t|cannot|can not) see",
    r"(lost|losing|loss of|lose) (my )?(vision|sight|eyesight)",
    r"vision (is |went |going )?(\w+ )?(dark|black|gone|blurr\w*|blurry)", r"blind(ness)?",
    r"(no veo|perd[ií] (la )?vista|visi[oó]n borrosa|veo borroso|no puedo ver|veo doble)",
    r"(seeing|see|saw) double",
    r"(can'?t|cannot|hard to|trouble|struggling to|difficulty) (breath\w*|swallow\w*)",
    r"(throat|tongue|garganta|lengua) (is |feels? )?(closing|swelling|swollen|tight|se (me )?cierra)",
    r"(no puedo|me cuesta) (respirar|tragar)",
]
_ALARM = re.compile(r"\b(" + "|".join(_ALARMS) + r")\b")
# Where one part of a message ends: a sentence, a clause after a comma, "but".
_CLAUSE = re.compile(r"[.!?;\n]+|,|\b(but|pero|although|aunque)\b")

# Signs the symptom is the writer's, now: first person, time since treatment, worsening, persistence.
_CURRENT = re.compile(
    r"\b(my|i have|i've got|i got|i'?m|im|still|since|after|now|today|tonight|this morning|yesterday|"
    r"getting worse|worse|spreading|keeps?|won'?t go|hasn'?t gone|not going (down|away)|days? (later|ago|after)|"
    r"tengo|me sali[oó]|me (duele|arde|pica|quem\w*|qued[oó]|hinch\w*)|mi|mis|desde|despu[eé]s|ahora|hoy|"
    r"ayer|todav[ií]a|sigue|sigo|cada vez|empeor\w*|se me|ya van|llevo|no (baja|se (me )?(quita|va|baja))|"
    r"(so|really|very|super) (bad|painful)|terrible|horrible|awful|can'?t (eat|sleep)|have?n'?t (eaten|slept)|"
    r"no puedo (comer|dormir))\b"
)
# A mention is denied when a negation comes just before it ("no swelling", "no me duele nada",
# "didn't bruise at all") -- but not "not sure if this swelling...".
_NEGATED = re.compile(
    r"\b(no|not|never|without|zero|cero|sin|nunca|nada de|ninguna?|didn'?t|didnt|don'?t|dont|doesn'?t|"
    r"haven'?t|havent)\s+(\w+\s+){0,3}$"
)
_UNSURE = re.compile(r"\b(sure|know|idea|tell|s[eé] si|stop\w*|para de|deja de|deja)\b")
# ...or gone: "the bruise is gone", "swelling went down", "ya se me quitó el moretón".
_GONE_AFTER = re.compile(
    r"^\W*(\w+\W+){0,4}?(?<!n't )(?<!not )(?<!no )(is |are |has |have |had )?(all |completely |fully |totally )?"
    r"(gone|went (away|down)|faded|healed|resolved|cleared( up)?|wore off|settled|passed|disappeared|"
    r"back to normal|desapareci[oó]|ya (se )?(me )?(quit[oó]|baj[oó]|fue))\b"
)
_GONE_BEFORE = re.compile(
    r"\b(ya se (me )?(quit[oó]|baj[oó]|fue)|se (me )?(quit[oó]|baj[oó])|ya no tengo|ya no me|desapareci[oó]|"
    r"all healed|no more)\s+(\w+\s+){0,3}$"
)
# The whole message is about a symptom that is only imagined, someone else's, or long past.
_NOT_CURRENT = re.compile(
    r"\b(will i|will my|will it|would i|could i|might i|what if|if i get|if my|if it|if i|what are the chances|"
    r"how likely|how long does|how long do|how long will|how common|is it common|"
    r"voy a|va a|van a|si se me|si me|me lo (quiero|voy|hago)|before (my|the|i)|antes de|"
    r"can (\w+ ){1,3}(cause|burn|make|give)|thyroid|tiroides|"
    r"just asking|solo pregunto|just want to be prepared|first time\w*|primera vez|thinking about|"
    r"history of|antecedentes|years ago|hace años|"
    r"(my|mi|her|his) (friend|sister|mom|mother|cousin|daughter|husband|amiga|hermana|mam[aá]|prima|hija|esposo)|"
    r"(for|para) (my |mis |las |los |the )?migra\w*)\b"
)

# A current treatment is not a current symptom after a treatment: an illness the writer is being treated for,
# named by a part of the body no med-spa treatment touches or by its cause ("antibiotics for a sinus infection",
# "una infección de oído", "back pain", "a fever from the flu"), makes the message a question for a provider
# (clinical), not an adverse event -- unless the message ties it to a treatment of ours. An infection, swelling or
# pain with no such name still counts: when in doubt, page.
_ILLNESS_BEFORE = re.compile(
    r"\b(sinus|ear|throat|strep|urinary|bladder|kidney|tooth|dental|gum|yeast|respiratory|chest cold|back|"
    r"flu|covid|cold|gripe|resfriado)\s+((and|with|plus|y|con) (a |an |un |una )?)?$"
)
_ILLNESS_AFTER = re.compile(
    r"^\s*((de|en) (los? |las? |el |mi |mis )?(o[ií]dos?|garganta|orina|vejiga|ri[ñn][oó]n(es)?|muelas?|dientes?|"
    r"enc[ií]as?|senos? (para)?nasales|espalda)|(urinaria|respiratoria|de orina)|"
    r"(in|of) (my |the |both )?(ears?|throat|sinus(es)?|bladder|kidneys?|tooth|teeth|gums?|urinary tract|back)|"
    r"throat|(from|because of|with|por|de|con) (the |a |an |el |la |un |una )?(flu|cold|covid|virus|stomach bug|"
    r"gripe|resfriado|resfr[ií]o|covid|virus))\b"
)
_TIED_TO_OUR_TREATMENT = re.compile(
    r"\b((after|since|from|post) (the |my |your |our |her |last )?(\w+ ){0,2}(filler|fillers|botox|dysport|xeomin|"
    r"injections?|shots?|treatment|procedure|laser|peel|microneedling|kybella|sculptra|appointment|appt|visit)|"
    r"where (the |my )?(filler|botox|needle|injections?|shots?)|injection site|(went|go|goes) in|"
    r"(at|on) the site|(desde|despu[eé]s de) (el |la |mi |las |los )?(relleno|botox|tratamiento|l[aá]ser|peeling|"
    r"inyecci[oó]n|inyecciones|aplicaci[oó]n|cita|procedimiento)|"
    r"del (relleno|botox|tratamiento|l[aá]ser|peeling|procedimiento)|donde (me )?(inyectaron|pusieron|aplicaron)|"
    r"en (el|los|mis?) labios?|en la zona)\b"
)


def _illness_being_treated(folded: str, match: re.Match[str]) -> bool:
    before = folded[max(0, match.start() - 30):match.start()]
    after = folded[match.end():match.end() + 40]
    named = bool(_ILLNESS_BEFORE.search(before) or _ILLNESS_AFTER.search(after))
    return named and not _TIED_TO_OUR_TREATMENT.search(folded)


# Words of a question only a licensed provider should answer, even when it reads like booking or FAQ.
_MEDICAL_QUESTION = re.compile(
    r"\b(units?|unidades|dos(e|is|age|ing)|syringes?|jeringas?|vials?|viales?|max|maximum|m[aá]xim[oa]|"
    r"minimum|m[ií]nim[oa]|age|edad|menor(es)?|minors?|\d{2} ?(yo|años)|teen\w*|vacun\w*|vaccin\w*|flu shot|"
    r"booster|antibi[oó]tic\w*|amoxi\w*|aspirin\w*|ibuprofen\w*|advil|tylenol|blood thinners?|anticoagul\w*|"
    r"pregnan\w*|embaraz\w*|breastfeed\w*|amamant\w*|lactan\w*|allerg\w*|al[eé]rgic\w*|safe|segur[oa]|"
    r"risks?|riesgos?|onset|kick in|side effects?|efectos secundarios|downtime|se pela|peel a lot|flaking|"
    r"fly|flight|flying|vuelo|avi[oó]n|combine|combinar|same (day|appt|week)|mismo d[ií]a|la semana de|"
    r"the week of|hay (bronca|problema)|is that ok|ok to|still ok|full (results?|effect)|resultado final|"
    r"how long till|last longer|dura m[aá]s)\b"
)


def medical_question_cue(text: str) -> str | None:
    match = _MEDICAL_QUESTION.search(fold(text))
    return None if match is None else match.group(0)


def _mention_is_current(folded: str, match: re.Match[str]) -> bool:
    before = folded[max(0, match.start() - 40):match.start()]
    after = folded[match.end():match.end() + 50]
    negated = _NEGATED.search(before)
    if negated and not _UNSURE.search(negated.group(0)):
        return False
    if _illness_being_treated(folded, match):
        return False
    return not (_GONE_AFTER.search(after) or _GONE_BEFORE.search(before))


@dataclass(frozen=True)
class SafetyVerdict:
    category: Category
    reasons: tuple[str, ...]


def fold(text: str) -> str:
    lowered = text.lower().replace("’", "'")
    return unicodedata.normalize("NFC", lowered)


def _clause(folded: str, match: re.Match[str]) -> str:
    """The part of the message (sentence, clause) the mention is in."""
    starts = [m.end() for m in _CLAUSE.finditer(folded, 0, match.start())]
    start = starts[-1] if starts else 0
    end = _CLAUSE.search(folded, match.end())
    return folded[start:end.start() if end else len(folded)]


def _found(pattern: re.Pattern[str], folded: str) -> str | None:
    if not _CURRENT.search(folded):
        return None
    for match in pattern.finditer(folded):
        if not _NOT_CURRENT.search(_clause(folded, match)) and _mention_is_current(folded, match):
            return match.group(0)
    return None


def symptom_cue(text: str) -> str | None:
    """The symptom word if the message reports a current symptom of the writer's, else None."""
    return _found(_SYMPTOM, fold(text))


def alarm_cue(text: str) -> str | None:
    """The emergency sign (a blocked vessel, sight, breathing) if the message reports one of the writer's now."""
    return _found(_ALARM, fold(text))


def raise_category(model_choice: Category, scores: dict[Category, float], text: str) -> SafetyVerdict:
    """Apply the floors; the result is never less severe than `model_choice`."""
    if model_choice is Category.ADVERSE_EVENT:
        return SafetyVerdict(model_choice, ())
    adverse = scores.get(Category.ADVERSE_EVENT, 0.0)
    if adverse >= ADVERSE_FLOOR:
        return SafetyVerdict(
            Category.ADVERSE_EVENT, (f"safety: adverse-event likelihood {adverse:.2f} ≥ {ADVERSE_FLOOR}",)
        )
    medical = adverse + scores.get(Category.CLINICAL, 0.0)
    alarm = alarm_cue(text)
    if alarm is not None:
        return SafetyVerdict(Category.ADVERSE_EVENT, (f"safety: emergency sign reported ('{alarm}')",))
    routine = model_choice.severity < Category.CLINICAL.severity
    if adverse >= CUE_ADVERSE_FLOOR or (routine and medical >= CUE_MEDICAL_FLOOR):
        cue = symptom_cue(text)
        if cue is not None and model_choice in CUE_RAISES:
            return SafetyVerdict(Category.ADVERSE_EVENT, (f"safety: current symptom reported ('{cue}')",))
    if model_choice.severity >= Category.CLINICAL.severity:
        return SafetyVerdict(model_choice, ())
    if medical >= MEDICAL_FLOOR:
        return SafetyVerdict(Category.CLINICAL, (f"safety: medical likelihood {medical:.2f} ≥ {MEDICAL_FLOOR}",))
    question = medical_question_cue(text) if medical >= MEDICAL_CUE_FLOOR else None
    if question is not None:
        return SafetyVerdict(
            Category.CLINICAL, (f"safety: provider question ('{question}'), medical likelihood {medical:.2f}",)
        )
    return SafetyVerdict(model_choice, ())
