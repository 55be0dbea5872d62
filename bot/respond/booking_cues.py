"""The words a booking message is read by, English and Spanish: intents, parts of the day, weeks, "no", slot
picks, treatments. Phrases are matched as whole words on lower-cased, accent-free text ("mañana" → "manana").
Dates and weekdays are not here: dateparser reads those.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Literal


class BookingIntent(StrEnum):
    BOOK_NEW = "book_new"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    CONFIRM = "confirm"  # accept a slot we offered, or ask for one specific slot
    RUNNING_LATE = "running_late"
    EXISTING = "existing_appointment_question"
    UNKNOWN = "unknown"

    @property
    def bot_may_answer(self) -> bool:
        """Only new bookings and moves get slots from the bot; everything else changes a real appointment."""
        return self in (BookingIntent.BOOK_NEW, BookingIntent.RESCHEDULE)


class PartOfDay(StrEnum):
    MORNING = "morning"  # starts before 12:00
    AFTERNOON = "afternoon"  # 12:00 to 17:00
    EVENING = "evening"  # 17:00 and later

    def holds(self, start: time) -> bool:
        if self is PartOfDay.MORNING:
            return start < time(12)
        if self is PartOfDay.AFTERNOON:
            return time(12) <= start < time(17)
        return start >= time(17)


Week = Literal["this", "next"]

# Cue tables. Phrases are matched as whole words on lower-cased, accent-free text ("mañana" → "manana").
# Order matters: the first intent with a cue wins, so the cues that change a real appointment come first.
INTENT_CUES: tuple[tuple[BookingIntent, tuple[str, ...]], ...] = (
    (BookingIntent.RUNNING_LATE, (
        "running late", "running behind", "running a bit late", "be late", "be a little late", "be a few minutes late",
        "minutes late", "min late", "mins late", "late for my", "stuck in traffic", "on my way", "be there in",
        "llego tarde", "voy tarde", "llegare tarde", "llegar tarde", "voy retrasado", "voy retrasada",
        "minutos tarde", "en camino", "mucho trafico",
    )),
    (BookingIntent.CANCEL, (
        "cancel", "cancellation", "cant make it", "cannot make it", "wont make it", "not be able to make it",
        "cancelar", "cancela", "cancelo", "cancelacion", "anular", "no podre ir", "no voy a poder ir", "no puedo ir",
    )),
    (BookingIntent.RESCHEDULE, (
        "reschedule", "re schedule", "move my", "move the appointment", "move the appt", "change my appointment",
        "change my appt", "change the appointment", "push my", "push back my", "switch my", "different day",
        "different time", "another day", "another time", "cambiar mi cita", "cambiar la cita", "cambiar mi turno",
        "mover mi cita", "mover la cita", "reprogramar", "reagendar", "cambiar de dia", "cambiar la hora",
    )),
    (BookingIntent.CONFIRM, (
        "works for me", "that works", "works great", "works perfect", "sounds good", "sounds great", "sounds perfect",
        "ill take", "i will take", "id like that one", "book me", "book it", "put me down", "lock it in",
        "see you then", "thats perfect", "perfect", "me sirve", "me funciona", "me queda bien", "me viene bien",
        "perfecto", "confirmo", "reservame", "apuntame", "agendame", "nos vemos", "esa me sirve", "ese me sirve",
    )),
    (BookingIntent.BOOK_NEW, (
        "book", "booking", "make an appointment", "schedule an", "schedule a", "get an appointment",
        "get a appointment", "availability", "available", "opening", "openings", "anything", "any slots",
        "come in", "get in", "reservar", "agendar", "quiero una cita", "quisiera una cita", "hacer una cita",
        "sacar una cita", "pedir una cita", "pedir cita", "una cita", "disponible", "disponibilidad", "tienen algo",
        "hay algo", "tienen espacio", "hay espacio", "tienen lugar", "hueco",
    )),
    (BookingIntent.EXISTING, (
        "my appointment", "my appt", "my next appointment", "do i have an appointment", "mi cita", "mi turno",
        "tengo cita", "tengo una cita", "mi proxima cita",
    )),
    # A bare "appointment" or "cita" is a booking unless something above said otherwise.
    (BookingIntent.BOOK_NEW, ("appointment", "appt", "consultation", "consult", "any day", "anytime", "any time",
                              "cita", "turno", "consulta", "cualquier dia", "cualquier hora")),
)

PART_OF_DAY_CUES: dict[PartOfDay, tuple[str, ...]] = {
    PartOfDay.MORNING: (
        "morning", "mornings", "in the am", "before noon", "before lunch", "por la manana", "en la manana",
        "las mananas", "antes del mediodia", "temprano en la manana",
    ),
    PartOfDay.AFTERNOON: (
        "afternoon", "afternoons", "after lunch", "in the pm", "por la tarde", "en la tarde", "las tardes",
        "de tarde", "despues del almuerzo", "despues de comer",
    ),
    PartOfDay.EVENING: (
        "evening", "evenings", "after work", "tonight", "night", "por la noche", "en la noche", "las noches",
        "de noche", "despues del trabajo",
    ),
}

WEEK_CUES: dict[Week, tuple[str, ...]] = {
    "this": ("this week", "later this week", "this wk", "esta semana", "en la semana"),
    "next": ("next week", "next wk", "la proxima semana", "proxima semana", "la semana que viene",
             "la semana proxima", "la otra semana"),
}
WEEKEND_CUES = ("weekend", "fin de semana", "finde")

# Words that make a clause a "no" ("Tues doesn't work", "not Monday", "no puedo el martes", "menos el lunes").
NEGATION_WORDS = frozenset({
    "not", "no", "dont", "doesnt", "cant", "cannot", "wont", "isnt", "except", "excluding", "never",
    "nunca", "excepto", "menos", "salvo",
})
# ...unless the "no" is the way a question is asked ("¿no tienen algo el jueves?", "don't you have Friday?").
NEGATED_QUESTIONS = ("dont you have", "do you not have", "no tienen", "no hay", "no tendran", "no tendria")
CLAUSE_BREAKS = frozenset({"but", "pero", "though", "although", "aunque", "sino"})

# Picking one of the offered slots by its place in the list.
CHOICE_CUES: dict[int, tuple[str, ...]] = {
    0: ("the first", "first one", "1st one", "option 1", "number 1", "el primero", "la primera", "primera opcion",
        "opcion 1", "el 1ro"),
    1: ("the second", "second one", "2nd one", "option 2", "number 2", "el segundo", "la segunda",
        "segunda opcion", "opcion 2"),
    2: ("the third", "third one", "3rd one", "option 3", "number 3", "el tercero", "la tercera", "tercera opcion",
        "opcion 3"),
    -1: ("the last", "last one", "el ultimo", "la ultima"),
}

TREATMENT_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hydrafacial", ("hydrafacial", "hydra facial")),
    ("laser hair removal", ("laser hair", "hair removal", "depilacion")),
    ("botox", ("botox", "tox", "dysport", "xeomin", "toxina")),
    ("filler", ("filler", "fillers", "relleno", "rellenos")),
    ("microneedling", ("microneedling", "micro needling", "microagujas")),
    ("chemical peel", ("chemical peel", "peel", "peeling")),
    ("sculptra", ("sculptra",)),
    ("kybella", ("kybella",)),
    ("laser", ("laser", "co2", "ipl")),
    ("facial", ("facial", "limpieza facial")),
    ("consultation", ("consultation", "consult", "consulta")),
)
PROVIDER_TITLES = frozenset({"dr", "dra", "doctor", "doctora", "np", "nurse"})
PROVIDER_LEADS = frozenset({"with", "con"})

DURATION_WORDS = frozenset({"min", "mins", "minute", "minutes", "minuto", "minutos", "hour", "hours", "hr", "hrs",
                            "hora", "horas"})
TIME_LEADS = frozenset({"at", "las", "la", "@"})
