"""STOP / START: which addresses asked not to be texted, and the keywords that say so."""

from bot.optouts.keywords import Keyword, keyword_of
from bot.optouts.store import current_opt_out, is_opted_out, opt_back_in, opt_out, opt_outs_between

__all__ = ["Keyword", "current_opt_out", "is_opted_out", "keyword_of", "opt_back_in", "opt_out", "opt_outs_between"]
