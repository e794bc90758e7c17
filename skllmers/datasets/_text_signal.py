"""Synthetic interactions whose item text carries preference signal the ratings hide."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .._interaction_data import InteractionData

__all__ = ["make_text_signal", "TOPIC_VOCABULARY"]

#: Distinctive words of each built-in topic (pairwise disjoint). Topics beyond these get
#: generated pseudo-words.
TOPIC_VOCABULARY: dict[str, tuple[str, ...]] = {
    "space": (
        "galaxy", "nebula", "orbit", "rocket", "comet", "asteroid", "astronaut", "planet",
        "telescope", "meteor", "satellite", "cosmos", "starship", "lunar", "eclipse",
        "supernova", "gravity", "spacesuit", "crater", "quasar", "launchpad", "spacewalk",
        "constellation", "cosmonaut",
    ),
    "cooking": (
        "recipe", "skillet", "saffron", "dough", "simmer", "pastry", "oregano", "braise",
        "spatula", "broth", "caramel", "marinade", "cinnamon", "whisk", "risotto", "garlic",
        "oven", "sourdough", "basil", "custard", "dumpling", "ladle", "glaze", "paprika",
    ),
    "ocean": (
        "coral", "reef", "tide", "harbor", "lighthouse", "dolphin", "whale", "anchor",
        "sailor", "lagoon", "seashell", "kelp", "undertow", "shipwreck", "octopus",
        "starfish", "surf", "mariner", "buoy", "seagull", "trawler", "seabed", "jellyfish",
        "pearl",
    ),
    "mystery": (
        "detective", "clue", "alibi", "suspect", "fingerprint", "inspector", "culprit",
        "riddle", "witness", "motive", "poison", "magnifier", "sleuth", "interrogation",
        "forensic", "disguise", "blackmail", "cipher", "accomplice", "stakeout",
        "confession", "evidence", "footprint", "whodunit",
    ),
    "romance": (
        "kiss", "wedding", "sweetheart", "bouquet", "courtship", "proposal", "honeymoon",
        "valentine", "serenade", "heartbreak", "embrace", "flirt", "engagement", "soulmate",
        "darling", "rendezvous", "candlelight", "longing", "devotion", "beloved", "locket",
        "crush", "matchmaker", "lovers",
    ),
    "sports": (
        "stadium", "goalkeeper", "referee", "marathon", "tournament", "trophy", "playoff",
        "dribble", "sprint", "coach", "jersey", "championship", "rebound", "touchdown",
        "racket", "halftime", "penalty", "scoreboard", "athlete", "relay", "dugout",
        "varsity", "podium", "medalist",
    ),
    "history": (
        "empire", "dynasty", "pharaoh", "castle", "knight", "crusade", "monarch", "treaty",
        "revolution", "archive", "parchment", "medieval", "colonial", "chronicle", "emperor",
        "senate", "artifact", "excavation", "legion", "throne", "manuscript", "fortress",
        "renaissance", "tapestry",
    ),
    "music": (
        "guitar", "melody", "chorus", "drummer", "orchestra", "concert", "ballad", "violin",
        "rhythm", "lyric", "saxophone", "symphony", "chord", "tempo", "vinyl", "piano",
        "soprano", "encore", "bassline", "jazz", "harmony", "conductor", "rehearsal",
        "anthem",
    ),
    "nature": (
        "forest", "meadow", "waterfall", "canyon", "glacier", "wildflower", "fern", "moss",
        "pinecone", "valley", "hiking", "trail", "camping", "wilderness", "birdsong", "oak",
        "river", "prairie", "boulder", "summit", "campfire", "mushroom", "squirrel", "marsh",
    ),
    "technology": (
        "software", "robot", "circuit", "algorithm", "processor", "server", "database",
        "hacker", "smartphone", "laptop", "network", "encryption", "startup", "gadget",
        "sensor", "microchip", "firmware", "cloud", "android", "keyboard", "pixel",
        "bandwidth", "drone", "compiler",
    ),
    "fantasy": (
        "dragon", "wizard", "sorcery", "elf", "enchantment", "potion", "unicorn", "goblin",
        "prophecy", "amulet", "spellbook", "troll", "quest", "sword", "sorceress", "griffin",
        "rune", "fairy", "warlock", "dungeon", "realm", "orc", "wand", "phoenix",
    ),
    "horror": (
        "ghost", "haunted", "vampire", "zombie", "werewolf", "crypt", "graveyard", "curse",
        "demon", "scream", "nightmare", "poltergeist", "coffin", "skeleton", "creepy",
        "possession", "exorcism", "phantom", "cellar", "witch", "blood", "midnight", "mask",
        "morgue",
    ),
    "travel": (
        "passport", "luggage", "airport", "itinerary", "suitcase", "hostel", "backpacker",
        "souvenir", "tourist", "voyage", "roadtrip", "map", "ticket", "cruise", "border",
        "jetlag", "postcard", "layover", "guidebook", "hotel", "sightseeing", "railway",
        "caravan", "visa",
    ),
    "finance": (
        "stock", "investor", "bank", "mortgage", "budget", "dividend", "portfolio", "tax",
        "ledger", "profit", "auction", "merger", "currency", "inflation", "accountant",
        "wallet", "loan", "savings", "broker", "pension", "invoice", "bonus", "bankruptcy",
        "shareholder",
    ),
    "school": (
        "teacher", "classroom", "homework", "exam", "principal", "recess", "chalkboard",
        "textbook", "graduation", "semester", "locker", "pupil", "tutor", "lecture",
        "diploma", "campus", "notebook", "cafeteria", "spelling", "quiz", "library",
        "professor", "scholarship", "valedictorian",
    ),
    "farm": (
        "tractor", "barn", "harvest", "orchard", "farmer", "cattle", "hay", "plow",
        "vineyard", "rooster", "sheep", "pasture", "silo", "scarecrow", "pumpkin", "dairy",
        "goat", "stable", "wheat", "beehive", "fence", "pig", "ranch", "crop",
    ),
}

# Topic-neutral words of the templates; every item uses them, so they carry no signal.
_ADJECTIVES = (
    "bold", "quiet", "gentle", "sharp", "vivid", "timeless", "fresh", "curious", "lively",
    "modern", "classic", "warm", "tender", "playful", "clever", "simple", "grand", "little",
)
_KINDS = (
    "story", "collection", "guide", "journey", "portrait", "tale", "edition", "series",
    "account", "adventure", "study", "album",
)
_TITLE_NOUNS = (
    "Chronicles", "Tales", "Notes", "Files", "Diaries", "Legacy", "Stories", "Letters",
    "Days", "Secrets", "Lessons", "Nights",
)
_OPENERS = (
    "{art} {adj} {kind} of {a}, {b} and {c}.",
    "This {adj} {kind} is about {a}, {b} and {c}.",
    "{art} {adj} look at {a}, {b} and {c}.",
)
_FOLLOWERS = (
    "Expect {a}, {b} and {c}.",
    "It features {a}, {b} and {c}.",
    "With {a}, {b} and {c} along the way.",
    "Think {a} meets {b}, with a touch of {c}.",
)
_SHORT = {1: "Also: {}.", 2: "Plus {} and {}."}
_SYLLABLE_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                    "br", "dr", "gl", "pl", "st", "tr", "sk", "th", "sh", "ch")
_SYLLABLE_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
_SYLLABLE_CODAS = ("", "", "n", "r", "l", "s", "m", "x", "th")

_START_TIME = 1_577_836_800  # 2020-01-01T00:00:00Z
_CHUNK_CELLS = 1 << 22  # users x items scores held at once while sampling


def make_text_signal(
    n_users: int = 300,
    n_items: int = 500,
    n_topics: int = 8,
    *,
    interactions_per_user: float = 27.0,
    min_interactions: int = 3,
    popularity_exponent: float = 1.5,
    topic_strength: float = 6.0,
    item_concentration: float = 0.1,
    user_concentration: float = 0.5,
    words_per_item: int = 12,
    text_noise: float = 0.15,
    with_genres: bool = False,
    time_span_days: float = 365.0,
    random_state=None,
    return_topics: bool = False,
):
    """Synthetic interactions whose item text carries preference signal.

    Each item is a mixture of latent topics and each topic owns a vocabulary of
    distinctive words (``"galaxy"``, ``"nebula"`` ... for *space*). An item's
    ``description`` is made of words of its topics (a ``text_noise`` share of them is
    drawn from random topics instead). Users have topic preferences, and a user picks
    item ``i`` with probability proportional to
    ``popularity_i * exp(topic_strength * affinity(u, i))`` (without replacement),
    where popularity is Zipf-like and ``affinity`` is the cosine similarity of the
    user's and the item's topic mixtures. Many items are rare, so collaborative
    filtering sees too few of their interactions to place them, while their text names
    their topics.

    The text is drawn after the interactions, so for a given ``random_state`` the text
    options (``words_per_item``, ``text_noise``, ``with_genres``) change the items
    table only: ``text_noise=1`` gives a no-signal control with the same interactions.

    Parameters
    ----------
    n_users, n_items, n_topics : int, default=300, 500, 8
        Sizes. Topics beyond the 16 built-in ones (see ``TOPIC_VOCABULARY``) get
        generated pseudo-word vocabularies.
    interactions_per_user : float, default=27.0
        Mean number of (distinct) items per user; counts are log-normal, so a few users
        are heavy and many are light.
    min_interactions : int, default=3
        Fewest items a user has (every user has rows).
    popularity_exponent : float, default=1.5
        Exponent ``s`` of the Zipf-like popularity ``1 / rank**s`` of the items (0 makes
        all items equally popular a priori).
    topic_strength : float, default=6.0
        How much topic affinity (in [0, 1]) multiplies the odds of an item:
        ``exp(topic_strength)`` at full affinity. 0 makes the choice topic-blind.
    item_concentration, user_concentration : float, default=0.1, 0.5
        Dirichlet concentrations of the item and user topic mixtures; small values
        make items and users focused on few topics.
    words_per_item : int, default=12
        Topic words in each description (the templates add neutral words).
    text_noise : float in [0, 1], default=0.15
        Share of description and title words drawn from a uniformly random topic rather
        than from the item's own mixture; 1 makes the text carry no signal.
    with_genres : bool, default=False
        Also give items a clean ``genres`` column naming their main topics (mixture
        weight >= 0.25). It makes the text signal easy; off by default.
    time_span_days : float, default=365.0
        Interactions have Unix-second timestamps in this many days from 2020-01-01.
    random_state : int, numpy Generator or RandomState, optional
        Seed; the same seed gives the same data.
    return_topics : bool, default=False
        Also return the hidden truth (see Returns).

    Returns
    -------
    data : InteractionData
        Users ``0..n_users-1``, items ``0..n_items-1`` (items nobody picked are cold),
        ``ratings`` 1-5 that grow with topic affinity, ``timestamps`` in Unix seconds,
        and an ``items`` table with text columns ``title`` and ``description`` (plus
        ``genres`` when asked).
    truth : sklearn.utils.Bunch
        Only with ``return_topics=True``. ``item_topics`` (n_items, n_topics) and
        ``item_popularity`` (n_items,) in item-code order (row ``c`` belongs to
        ``data.item_ids[c]``), ``user_topics`` (n_users, n_topics) in user-code order,
        ``topic_names`` and ``topic_words`` (the vocabulary of each topic).

    Examples
    --------
    >>> from skllmers.datasets import make_text_signal
    >>> data, truth = make_text_signal(random_state=0, return_topics=True)
    >>> data.n_users, data.n_items, truth.item_topics.shape
    (300, 500, (500, 8))
    >>> 6000 < len(data) < 10000
    True
    >>> code = int(truth.item_topics[:, 0].argmax())  # an item focused on topic 0
    >>> words = set(truth.topic_words[0])
    >>> text = data.items["description"].iloc[code].replace(",", "").replace(".", "")
    >>> sum(w in words for w in text.split()) >= 3
    True
    """
    n_users = _check_int(n_users, "n_users", 1)
    n_items = _check_int(n_items, "n_items", 1)
    n_topics = _check_int(n_topics, "n_topics", 1)
    min_interactions = _check_int(min_interactions, "min_interactions", 1)
    words_per_item = _check_int(words_per_item, "words_per_item", 1)
    if min_interactions > n_items:
        raise ValueError(
            f"min_interactions={min_interactions} exceeds n_items={n_items}: users pick "
            "distinct items."
        )
    _check_range(interactions_per_user, "interactions_per_user", 1, None)
    _check_range(text_noise, "text_noise", 0, 1)
    _check_range(popularity_exponent, "popularity_exponent", 0, None)
    _check_range(topic_strength, "topic_strength", 0, None)
    _check_range(item_concentration, "item_concentration", 0, None, open_low=True)
    _check_range(user_concentration, "user_concentration", 0, None, open_low=True)
    _check_range(time_span_days, "time_span_days", 0, None, open_low=True)
    rng = _as_generator(random_state)

    topic_names, topic_words = _vocabularies(n_topics, rng)
    item_topics = rng.dirichlet(np.full(n_topics, item_concentration), size=n_items)
    user_topics = rng.dirichlet(np.full(n_topics, user_concentration), size=n_users)
    rank = rng.permutation(n_items)
    popularity = (rank + 1.0) ** -popularity_exponent
    popularity /= popularity.sum()

    users, items, strength = _sample_interactions(
        user_topics, item_topics, popularity, interactions_per_user, min_interactions,
        topic_strength, rng,
    )
    span = time_span_days * 86_400.0
    user_start = rng.uniform(0.0, 0.5 * span, size=n_users)
    start = user_start[users]
    timestamps = (_START_TIME + start + rng.uniform(size=len(users)) * (span - start)).astype(
        np.int64
    )
    noise = rng.normal(0.0, 0.6, size=len(users))
    ratings = np.clip(np.rint(1.0 + 4.0 * strength + noise), 1.0, 5.0).astype(np.float32)

    table = _item_table(item_topics, topic_names, topic_words, words_per_item, text_noise,
                        with_genres, rng)
    order = np.lexsort((timestamps, users))
    frame = pd.DataFrame({
        "user_id": users[order], "item_id": items[order],
        "rating": ratings[order], "timestamp": timestamps[order],
    })
    data = InteractionData.from_pandas(frame, table, rating_col="rating",
                                       time_col="timestamp")
    data.items.index.name = "item_id"
    if not return_topics:
        return data
    item_order = np.asarray(data.item_ids, dtype=np.int64)
    user_order = np.asarray(data.user_ids, dtype=np.int64)
    truth = Bunch(
        item_topics=item_topics[item_order],
        user_topics=user_topics[user_order],
        item_popularity=popularity[item_order],
        topic_names=topic_names,
        topic_words=topic_words,
    )
    return data, truth


# ---------------------------------------------------------------------- sampling
def _sample_interactions(user_topics, item_topics, popularity, mean_count, min_count,
                         strength, rng):
    """Each user's distinct items: Gumbel top-k on log(popularity) + strength * affinity."""
    n_users, n_items = len(user_topics), len(item_topics)
    user_unit = user_topics / np.linalg.norm(user_topics, axis=1, keepdims=True)
    item_unit = item_topics / np.linalg.norm(item_topics, axis=1, keepdims=True)
    sigma = 0.6
    mu = np.log(mean_count) - sigma**2 / 2
    counts = np.clip(np.rint(rng.lognormal(mu, sigma, size=n_users)), min_count, n_items)
    counts = counts.astype(np.int64)
    log_pop = np.log(popularity).astype(np.float32)
    users, items, relative = [], [], []
    block = max(1, _CHUNK_CELLS // n_items)
    for lo in range(0, n_users, block):
        hi = min(lo + block, n_users)
        affinity = (user_unit[lo:hi] @ item_unit.T).astype(np.float32)
        # Gumbel top-k == sampling without replacement with probability ~ exp(logit).
        exponential = rng.standard_exponential(size=affinity.shape, dtype=np.float32)
        np.maximum(exponential, np.finfo(np.float32).tiny, out=exponential)  # float32 0s
        keys = log_pop + np.float32(strength) * affinity - np.log(exponential)
        k = counts[lo:hi]
        kmax = int(k.max())
        if kmax < n_items:
            top = np.argpartition(keys, n_items - kmax, axis=1)[:, n_items - kmax:]
        else:
            top = np.broadcast_to(np.arange(n_items), keys.shape)
        top_keys = np.take_along_axis(keys, top, axis=1)
        top = np.take_along_axis(top, np.argsort(-top_keys, axis=1), axis=1)
        keep = np.arange(kmax) < k[:, None]
        rows = np.broadcast_to(np.arange(lo, hi)[:, None], top.shape)[keep]
        cols = top[keep]
        best = affinity.max(axis=1)
        rel = affinity[rows - lo, cols] / np.where(best > 0, best, 1.0)[rows - lo]
        users.append(rows)
        items.append(cols)
        relative.append(rel)
    return np.concatenate(users), np.concatenate(items), np.concatenate(relative)


# ---------------------------------------------------------------------- text
def _vocabularies(n_topics, rng):
    builtin = list(TOPIC_VOCABULARY)
    chosen = [builtin[i] for i in np.sort(rng.permutation(len(builtin))[:n_topics])]
    names = list(chosen)
    words = [list(TOPIC_VOCABULARY[name]) for name in chosen]
    n_extra = n_topics - len(chosen)
    if n_extra:
        size = len(next(iter(TOPIC_VOCABULARY.values())))
        taken = {w for vocab in TOPIC_VOCABULARY.values() for w in vocab}
        taken.update(_ADJECTIVES + _KINDS)
        pool = _pseudo_words(n_extra * size, taken, rng)
        for t in range(n_extra):
            names.append(f"topic{len(chosen) + t + 1}")
            words.append(pool[t * size:(t + 1) * size])
    return names, words


def _pseudo_words(n, taken, rng):
    """``n`` distinct pronounceable made-up words (2-3 syllables) not in ``taken``."""
    out, seen = [], set(taken)
    while len(out) < n:
        m = 2 * (n - len(out)) + 16
        n_syll = rng.integers(2, 4, size=m)
        parts = [rng.choice(np.array(pool, dtype=object), size=(m, 3))
                 for pool in (_SYLLABLE_ONSETS, _SYLLABLE_VOWELS, _SYLLABLE_CODAS)]
        for j in range(m):
            word = "".join(
                parts[0][j, s] + parts[1][j, s] + (parts[2][j, s] if s == n_syll[j] - 1 else "")
                for s in range(n_syll[j])
            )
            if word not in seen:
                seen.add(word)
                out.append(word)
                if len(out) == n:
                    break
    return out


def _item_table(item_topics, topic_names, topic_words, n_words, text_noise, with_genres, rng):
    n_items, n_topics = item_topics.shape
    vocab_size = np.array([len(w) for w in topic_words])
    # Topic of every word slot (n_words for the description, 1 for the title).
    cum = np.cumsum(item_topics, axis=1)
    cum[:, -1] = 1.0
    u = rng.uniform(size=(n_items, n_words + 1))
    slot_topic = (u[:, :, None] > cum[:, None, :]).sum(axis=2)
    noisy = rng.uniform(size=slot_topic.shape) < text_noise
    slot_topic = np.where(noisy, rng.integers(0, n_topics, size=slot_topic.shape), slot_topic)
    slot_word = (rng.uniform(size=slot_topic.shape) * vocab_size[slot_topic]).astype(np.int64)
    flat_vocab = np.array([w for vocab in topic_words for w in vocab], dtype=object)
    offset = np.concatenate([[0], np.cumsum(vocab_size)[:-1]])
    words = flat_vocab[offset[slot_topic] + slot_word]

    adjectives = np.array(_ADJECTIVES, dtype=object)[rng.integers(0, len(_ADJECTIVES), n_items)]
    kinds = np.array(_KINDS, dtype=object)[rng.integers(0, len(_KINDS), n_items)]
    nouns = np.array(_TITLE_NOUNS, dtype=object)[rng.integers(0, len(_TITLE_NOUNS), n_items)]
    openers = rng.integers(0, len(_OPENERS), n_items)
    followers = rng.integers(0, len(_FOLLOWERS), size=(n_items, (n_words + 2) // 3))
    descriptions = []
    for i in range(n_items):
        adj = adjectives[i]
        article = "An" if adj[0] in "aeiou" else "A"
        sentences = []
        for s in range(0, n_words, 3):
            chunk = words[i, s:min(s + 3, n_words)]
            if len(chunk) == 3:
                template = _OPENERS[openers[i]] if s == 0 else _FOLLOWERS[followers[i, s // 3]]
                sentence = template.format(art=article, adj=adj, kind=kinds[i], a=chunk[0],
                                           b=chunk[1], c=chunk[2])
            else:
                sentence = _SHORT[len(chunk)].format(*chunk)
            sentences.append(sentence)
        descriptions.append(" ".join(sentences))
    titles = pd.Series([f"{adjectives[i].title()} {words[i, n_words].title()} {nouns[i]}"
                        for i in range(n_items)])
    repeat = titles.groupby(titles).cumcount()
    titles = titles.where(repeat == 0, titles + " " + (repeat + 1).astype(str))
    table = pd.DataFrame(
        {"title": pd.array(titles.tolist(), dtype="str"),
         "description": pd.array(descriptions, dtype="str")},
        index=pd.RangeIndex(n_items, name="item_id"),
    )
    if with_genres:
        order = np.argsort(-item_topics, axis=1)
        names = np.array(topic_names, dtype=object)
        table["genres"] = pd.array(
            [", ".join(names[row[item_topics[i, row] >= 0.25]]) or names[row[0]]
             for i, row in enumerate(order)],
            dtype="str",
        )
    return table


# ---------------------------------------------------------------------- checks
def _as_generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32 - 1, dtype=np.uint64))
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator,
                                                         np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, an int, a numpy Generator or RandomState; got "
        f"{type(random_state).__name__}."
    )


def _check_int(value, name, low):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def _check_range(value, name, low, high, open_low=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"> {low}" if open_low else f">= {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}.")
