"""Knowledge enhancement: LLM-written summaries of items and users as dense features.

The LLM is called while fitting only; the features it leads to are served without it.
"""

from ._prompts import DEFAULT_ITEM_TEMPLATE, DEFAULT_USER_TEMPLATE
from ._summary import LLMSummaryFeaturizer

__all__ = ["DEFAULT_ITEM_TEMPLATE", "DEFAULT_USER_TEMPLATE", "LLMSummaryFeaturizer"]
