"""English or Spanish? Function words and Spanish letters decide; short or mixed texts fall back to a default."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-záéíóúüñ]+")
_SPANISH = frozenset(
    """
    el la los las un una unos unas de del al que y o pero por para con sin en es son está están estoy
    tengo tiene tienen me mi mis te tu su sus se le lo nos yo usted ustedes hola gracias buenos buenas
    días tardes noches quiero quisiera puedo puede necesito hay muy más cuánto cuanto cuándo cuando
    dónde donde cómo como qué porque pero ya también mañana hoy ayer cita citas semana favor horario
    labio labios cara ojo ojos dolor hinchado hinchada inflamado después antes bien mal sí
    """.split()
)
_ENGLISH = frozenset(
    """
    the a an of to and or but for with without in on is are am was were i you my your me we our it
    this that have has had can could would should do does did not no yes hi hello thanks thank please
    what when where how why which appointment tomorrow today yesterday week time need want just
    """.split()
)
_SPANISH_LETTERS = re.compile(r"[ñáéíóú¿¡]")


def detect_language(text: str, default: str = "en") -> str:
    words = _WORD.findall(text.lower())
    spanish = sum(word in _SPANISH for word in words) + 2 * len(_SPANISH_LETTERS.findall(text.lower()))
    english = sum(word in _ENGLISH for word in words)
    if spanish == english:
        return default
    return "es" if spanish > english else "en"
