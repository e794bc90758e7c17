"""Explain a recommendation with the summaries an LLM wrote while the model was fitted.

``LLMSummaryFeaturizer`` keeps every text it encoded in ``summaries_``: a knowledge
summary per item and a taste summary per user. After a LightFM model is fitted on the
encoded summaries, this script recommends a movie to one user and explains it from
those stored texts only, with no LLM call:

* the user's taste summary and the recommended item's summary;
* how close the item's features are to the user's (the two summaries are encoded into
  one feature space);
* the nearest items to the recommendation in that space, marking those the user
  already watched ("because you watched ...").

With no real LLM at hand, the summaries are written by
:class:`skllmers.llm.testing.ScriptedLLM` with a responder that fills templates from
the item metadata (title, genres, tags); the output says so. Pass ``--gguf
model.gguf`` (or set ``SKLLMERS_GGUF``) to have a local instruction-tuned model write
them instead (one prompt per item and per user: slow on a CPU, see
``real_gguf_model.py``).

Run::

    python examples/explain_recommendation.py           # MovieLens, 1,297 movies
    python examples/explain_recommendation.py --quick   # small synthetic data
"""

from __future__ import annotations

import argparse
import os
import textwrap
from collections import Counter

import numpy as np
import pandas as pd

from skllmers import InteractionData, LLMSummaryFeaturizer
from skllmers.datasets import load_movielens, make_text_signal
from skllmers.knowledge import DEFAULT_ITEM_TEMPLATE, DEFAULT_USER_TEMPLATE
from skllmers.pipeline import make_pipeline
from skllmers.recommenders import LightFMRecommender


def template_llm(items: pd.DataFrame, text_of_item: pd.Series):
    """A ScriptedLLM that answers the featurizer's prompts from the item metadata.

    The default prompts put an item's text (``{text}``) or a user's history (titles,
    oldest first, joined by ``" | "``: ``{history}``) between a fixed beginning and end; the
    responder recognises which prompt it got, finds the item(s) and fills a template.
    """
    from skllmers.llm.testing import ScriptedLLM

    item_head, item_tail = DEFAULT_ITEM_TEMPLATE.split("{text}")
    user_head, user_tail = DEFAULT_USER_TEMPLATE.split("{history}")
    item_by_text = dict(zip(text_of_item.to_numpy(), text_of_item.index, strict=True))
    item_by_title = {title: item for item, title in items["title"].items()}

    def genres(item):
        value = items.at[item, "genres"] if "genres" in items else None
        return [] if pd.isna(value) else [g.strip() for g in str(value).split(",") if g.strip()]

    def describe_item(item):
        kinds = genres(item)
        kind = " / ".join(kinds).lower() if kinds else "uncategorised"
        article = "an" if kind[0] in "aeiou" else "a"
        summary = f"{items.at[item, 'title']} is {article} {kind} title."
        tags = items.at[item, "tags"] if "tags" in items else None
        if tags is not None and not pd.isna(tags):
            summary += f" Viewers tag it: {tags}."
        if kinds:
            summary += f" It suits people who enjoy {' and '.join(kinds[:2]).lower()} stories."
        return summary

    def describe_user(history):
        titles = [title for title in history.split(" | ") if title]
        watched = [item_by_title[t] for t in titles if t in item_by_title]
        counts = Counter(g for item in watched for g in genres(item))
        if not counts:
            return f"This user watched {len(titles)} titles of no listed genre."
        top = [g.lower() for g, _ in counts.most_common(3)]
        favourite = ", ".join(top[:-1]) + (" and " if len(top) > 1 else "") + top[-1]
        return (f"This user mostly chooses {favourite} titles; {counts.most_common(1)[0][1]} "
                f"of their {len(titles)} recent picks are {top[0]}, for example "
                f"{titles[-1]}.")

    def respond(prompt):
        if prompt.startswith(item_head) and prompt.endswith(item_tail):
            text = prompt[len(item_head):len(prompt) - len(item_tail)]
            return describe_item(item_by_text[text])
        if prompt.startswith(user_head) and prompt.endswith(user_tail):
            return describe_user(prompt[len(user_head):len(prompt) - len(user_tail)])
        return ""

    return ScriptedLLM(responder=respond, name="template-summaries")


def _unit_rows(matrix):
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def load(quick: bool) -> InteractionData:
    if quick:
        return make_text_signal(n_users=120, n_items=200, with_genres=True, random_state=0)
    data = load_movielens("latest-small", verbose=False)
    # Keep the movies with at least 20 ratings: fewer texts to encode the first time.
    frame = data.to_pandas()
    counts = frame["item_id"].value_counts()
    kept = counts.index[counts >= 20]
    return InteractionData.from_pandas(frame[frame["item_id"].isin(kept)],
                                       items=data.items.loc[kept], time_col="timestamp",
                                       rating_col="rating")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic data and a hashing encoder (seconds)")
    parser.add_argument("--gguf", default=os.environ.get("SKLLMERS_GGUF"),
                        help="a local GGUF model that writes the summaries")
    parser.add_argument("--user", help="user id to explain (default: the first one)")
    args = parser.parse_args(argv)

    data = load(args.quick)
    if args.quick:
        from skllmers.llm.testing import HashingEncoder

        encoder = HashingEncoder(embed_dim=256)
    else:
        from skllmers.llm import SentenceEncoder

        encoder = SentenceEncoder()
    if args.gguf:
        from skllmers.llm import LlamaCppLLM

        llm = LlamaCppLLM(args.gguf, chat_format="auto", max_tokens=96)
        print(f"summaries written by {args.gguf}")
    else:
        llm = template_llm(data.items, data.item_text())
        print("No LLM given: the summaries are TEMPLATE TEXT filled from the item metadata "
              "by skllmers.llm.testing.ScriptedLLM (pass --gguf for real LLM summaries).")

    featurizer = LLMSummaryFeaturizer(llm, encoder, target="both", n_components=32,
                                      random_state=0)
    model = make_pipeline(featurizer, LightFMRecommender(n_factors=32, epochs=10,
                                                         random_state=0))
    model.fit(data)
    print(f"{data}; {featurizer.n_llm_prompts_} prompts summarised\n")

    user = args.user if args.user is not None else data.user_ids[0]
    if args.user is not None and data.user_ids.dtype.kind in "iu":
        user = int(user)
    top = model.recommend([user], k=1)
    item, score = top["item_id"].iloc[0], top["score"].iloc[0]
    summaries = featurizer.summaries_.set_index(["kind", "id"])["summary"]
    title = data.items.at[item, "title"]

    def show(label, text):
        print(textwrap.fill(text, 88, initial_indent=f"{label:<18}",
                            subsequent_indent=" " * 18))

    print(f"recommended to user {user}: {title} (item {item}, score {score:.3f})")
    show("user's taste:", summaries[("user", user)])
    show("item summary:", summaries[("item", item)])

    # Item and user features live in one space (one PCA over both): rank every item's
    # summary by its cosine to the user's taste summary.
    unit = _unit_rows(featurizer.item_features_)
    item_row = featurizer.item_ids_.get_loc(item)
    taste = _unit_rows(featurizer.user_features_[[featurizer.user_ids_.get_loc(user)]])[0]
    closeness = unit @ taste
    rank = int((closeness > closeness[item_row]).sum()) + 1
    print(f"\nthe item's summary is the #{rank} closest of {len(unit)} to the user's taste "
          f"summary (cosine {closeness[item_row]:.3f})")

    rows = data.to_pandas()
    watched = set(rows.loc[rows["user_id"] == user, "item_id"])
    similarity = unit @ unit[item_row]
    similarity[item_row] = -np.inf
    nearest = np.argsort(-similarity)[:5]
    print("nearest items in feature space (* = the user watched it):")
    for row in nearest:
        other = featurizer.item_ids_[row]
        mark = "*" if other in watched else " "
        print(f"  {mark} {similarity[row]:.3f}  {data.items.at[other, 'title']}")
    because = [featurizer.item_ids_[r] for r in np.argsort(-similarity)
               if featurizer.item_ids_[r] in watched][:2]
    if because:
        names = " and ".join(data.items.at[i, "title"] for i in because)
        print(f"\nexplanation: recommended because you watched {names}.")


if __name__ == "__main__":
    main()
