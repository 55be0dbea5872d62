"""Words too common to mean anything on their own, in English and Spanish (SMS spellings included)."""

STOPWORDS = frozenset(
    """
    a an and are as at be but by can could did do does for from had has have hi hello hey i i'm im in is it its
    me my of on or so that the their them then there this to u ur was we were what when where which who why
    will with would you your yo el la los las un una de del y o que en es me mi por para con se lo le su al
    hola gracias please pls thanks thank just also guys ustedes usted tienen hacen how much many any some
    get got want need like know tell si no not qué cuál cual cómo como dónde donde cuándo cuando hay está
    """.split()
)
