"""LLMEmbeddingInitializer: embeddings that start from (or stay) LLM text vectors."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.decomposition import PCA
from sklearn.random_projection import GaussianRandomProjection
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._artifacts import EMBEDDING_MODES, EmbeddingInit
from .._interaction_data import check_interaction_data
from .._text import UNSEEN_POLICIES, StageTimer, align_rows, check_encoder, check_unseen, item_texts
from ..llm._precomputed import PrecomputedVectors, check_precomputed_use
from ._profiles import SIDES, UserSources, item_raw_vectors, precomputed, user_raw_vectors

__all__ = ["LLMEmbeddingInitializer"]

class LLMEmbeddingInitializer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Start a recommender's item (and user) embeddings from LLM or text-encoder vectors.

    At ``fit``, each item's text is embedded by ``encoder`` (a sentence encoder, or an
    LLM's ``embed``), reduced to ``n_components`` dimensions and rescaled; ``transform``
    attaches the vectors to the data as an :class:`~skllmers.EmbeddingInit` artifact
    (key ``"item_embeddings"``), which the next Pipeline step reads at ``fit``. With
    ``target="users"`` or ``"both"``, each user is embedded the same way, from the
    texts of their most recent *training* items (oldest first, joined by ``" | "``) or
    from a ready-made profile (``user_text_columns``), and attached as
    ``"user_embeddings"`` in the items' coordinates: the reduction and scale fitted on
    the items are applied to the users, so a user's first score for an item is the
    similarity of the item's text to the user's history. Serving never calls the
    encoder for the fitted ids.

    What it takes from the papers, and where it simplifies: Harte et al. [1]_
    initialise a sequential recommender's item embeddings with PCA-reduced LLM
    embeddings of the item text (``mode="init"``, ``reduction="pca"``); their LLM is
    an embedding API or an LLM, here any ``embed`` backend, and the rescaling to the
    model's own init scale (``target_std``) is ours. LLM-ESR [2]_ keeps the LLM
    embeddings frozen behind a trainable adapter, beside a free ID embedding (its
    dual view: ``mode="frozen"``, ``add_id_embedding=True``); its retrieval-augmented
    self-distillation is in :class:`GuidanceRegularizer` (``kind="distillation"``),
    and its cross-attention between the two views is not reproduced (they are
    summed). AlphaRec [3]_ likewise feeds frozen language representations through an
    MLP; its graph convolution and contrastive loss are the recommender's business.

    Models that read the item artifact: ``BPRRecommender``, ``LightGCNRecommender`` and
    ``SASRecRecommender`` (both modes) and ``ALSRecommender`` (``mode="init"`` only);
    the user artifact: ``BPRRecommender`` and ``LightGCNRecommender``. Other
    recommenders raise a clear error when they receive one.

    Parameters
    ----------
    encoder : object with ``embed(texts)``, or PrecomputedVectors, default=None
        Embeds a list of texts into an array ``(n_texts, d)``; ``None`` uses
        :class:`~skllmers.llm.SentenceEncoder` (all-MiniLM-L6-v2, offline). An LLM
        backend such as :class:`~skllmers.llm.LlamaCppLLM` works too. It is a nested
        parameter: ``GridSearchCV`` reaches ``...__encoder__batch_size``. A
        :class:`~skllmers.llm.PrecomputedVectors` gives the vectors by id instead
        (users without ``users=`` vectors get the mean of their history's items).
    n_components : int or None, default=64
        Width of the attached vectors. For ``mode="init"`` it must equal the
        recommender's embedding width; ``mode="frozen"`` models project any width.
        ``None`` keeps the encoder's width.
    reduction : {"pca", "random_projection"} or None, default="pca"
        How the encoder's vectors are brought to ``n_components``: PCA over the items'
        vectors (Harte et al.), a Gaussian random projection, or nothing (then
        ``n_components`` must be ``None`` or the encoder's width).
    whiten : bool, default=False
        With ``reduction="pca"``, give every principal component the same variance
        (PCA whitening) before the rescaling to ``target_std``, so that the vectors
        have the per-dimension statistics of a random init of std ``target_std``
        instead of PCA's decreasing ones (a sentence encoder's first component has
        about four times the std of its 64th). The geometry of the items is then
        judged by all kept directions alike, not by the first few. See Notes.
    mode : {"init", "frozen"}, default="init"
        ``"init"``: the embedding tables start from the vectors and train.
        ``"frozen"``: the vectors stay fixed behind a trainable adapter.
    add_id_embedding : bool, default=True
        With ``mode="frozen"``, also learn a free ID embedding summed with the adapted
        vectors (LLM-ESR's dual view). Ignored with ``mode="init"``.
    target_std : float or None, default=0.1
        The vectors are multiplied by one scalar so that their entries have this
        standard deviation. A PCA'd sentence vector's entries have whatever scale the
        encoder gives (about 0.05-0.3 for unit-norm sentence vectors), while a
        recommender initialises its embeddings with a fixed std: 0.1 for the torch
        models of :mod:`skllmers.recommenders` (the default here matches it). Matching
        it keeps the first gradient steps, the score scale and weight decay where the
        model was tuned. One scalar for all dimensions keeps PCA's ordering of variance.
        ``None`` leaves the scale as the reduction gives it. It matters for
        ``mode="init"``; in ``mode="frozen"`` the torch models centre the fixed vectors
        and divide them by their mean norm before the adapter, so the scale cancels.
    target : {"items", "users", "both"}, default="items"
        Which artifacts to attach: ``"item_embeddings"``, ``"user_embeddings"`` (same
        ``mode``) or both. The items' text is embedded in every case (the users are put
        in the items' coordinates). User vectors come from the training rows passed to
        ``fit`` (augmented rows left out), so no held-out interaction reaches them.
    max_history : int, default=20
        A user is described by their ``max_history`` most recent training items (by
        time; ties broken by a key seeded with ``random_state``).
    text_columns : str or list of str, optional
        Columns of the items table that make an item's text; by default every string
        column (see ``InteractionData.item_text``).
    user_text_columns : str or list of str, optional
        Columns of the users table holding a ready-made profile (written by an LLM
        elsewhere, say): a user with such text is embedded from it rather than from
        their history. ``None``: every user from history.
    unseen_items : {"encode", "zeros", "error"}, default="encode"
        What ``transform`` does with items that were not in the id map seen at
        ``fit``. ``"encode"``: embed their text with the fitted encoder and project it
        with the fitted reduction and scale (neither is refitted; items with no text,
        or data with no items table, get zeros; PrecomputedVectors look them up).
        ``"zeros"``: zero vectors, and no encoder call. ``"error"``: raise. In a
        Pipeline the data a model trains on is the data this step was fitted on, so
        unseen items only reach ``transform`` when a fitted initializer prepares
        *other* data, e.g. a catalogue with new items. Items of the fit data are never
        re-embedded.
    unseen_users : {"encode", "zeros", "error"}, default="zeros"
        The same for users not in the fit data's id map (with a user side): ``"encode"``
        embeds them from their rows in ``transform``'s data (or their profile text).
    random_state : int, RandomState instance or None, default=None
        Seeds PCA's randomized solver and the random projection, and breaks ties in
        time in the users' histories.
    verbose : bool, default=False
        Print what was embedded and how long it took (the encoder shows its own
        progress bar).

    Attributes
    ----------
    vectors_ : ndarray of shape (n_items, ``n_components_``), float32
        The item vectors, one per item code of the fit data. Items with no text get a
        zero row (the model's ID embedding, if any, still learns them).
    item_ids_ : pandas.Index
        Item id map of the fit data; ``transform`` aligns ids to it by value.
    user_vectors_ : ndarray of shape (n_users, ``n_components_``) or None
        With a user side: the user vectors, one per user code of the fit data (zero
        rows for users without a training row or profile).
    user_ids_ : pandas.Index or None
        User id map of the fit data (with a user side).
    encoder_ : object
        The encoder used (it encodes unseen ids in ``transform``).
    reducer_ : PCA, GaussianRandomProjection or None
        The fitted reduction.
    scale_ : float
        The scalar that brought the reduced vectors to ``target_std``.
    n_components_ : int
        Width of ``vectors_``.
    encoder_dim_ : int
        Width of the encoder's vectors.
    encode_time_ : float
        Seconds spent embedding in the last fit.

    See Also
    --------
    GuidanceRegularizer : Align a model's embeddings with LLM profiles during training.
    skllmers.EmbeddingInit : The artifact this transformer attaches.
    skllmers.llm.PrecomputedVectors : Vectors computed elsewhere, looked up by id.

    Notes
    -----
    Which mode to use depends on how long the model trains. With SASRec on
    ml-latest-small, ``mode="init"`` peaked on validation after 10-25 of 50 epochs and
    then declined. ``mode="frozen"`` with ``add_id_embedding=True`` kept its quality
    to the end. On test, the frozen view fully trained and the init stopped at 20
    epochs both scored at or above the plain model (1.08x over five seeds and 1.18x
    over three, NDCG@10; neither significant after Holm). See
    :class:`~skllmers.recommenders.SASRecRecommender`, Notes. So stop early
    (``early_stopping=True``) with ``"init"``, and prefer ``"frozen"`` for a fully
    trained model. ``whiten=True`` gives the init a random init's per-dimension
    statistics. It did not help SASRec there, but it suits models that treat every
    dimension alike.

    References
    ----------
    .. [1] J. Harte et al., "Leveraging Large Language Models for Sequential
       Recommendation", RecSys 2023.
    .. [2] Q. Liu et al., "LLM-ESR: Large Language Models Enhancement for Long-tailed
       Sequential Recommendation", NeurIPS 2024.
    .. [3] L. Sheng et al., "Language Representations Can be What Recommenders Need:
       Findings and Potentials" (AlphaRec), ICLR 2025.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.model_enhancement import LLMEmbeddingInitializer
    >>> class WordCount:  # any object with embed(texts) -> (n, d) will do
    ...     def embed(self, texts):
    ...         words = ["space", "ship", "love", "heart"]
    ...         return np.array([[t.count(w) for w in words] for t in texts], float)
    >>> items = pd.DataFrame({"item_id": [1, 2, 3],
    ...                       "title": ["space ship", "love heart", "space love"]})
    >>> data = InteractionData.from_pandas(
    ...     pd.DataFrame({"user_id": [7, 7, 8], "item_id": [1, 2, 3]}), items=items)
    >>> init = LLMEmbeddingInitializer(WordCount(), n_components=2, random_state=0)
    >>> enriched = init.fit_transform(data)
    >>> enriched.artifacts["item_embeddings"].vectors.shape
    (3, 2)
    >>> round(float(enriched.artifacts["item_embeddings"].vectors.std()), 3)
    0.1

    In a Pipeline, the recommender's item table starts from the vectors:

    >>> from sklearn.pipeline import make_pipeline
    >>> from skllmers.datasets import make_text_signal
    >>> from skllmers.llm.testing import HashingEncoder
    >>> from skllmers.recommenders import BPRRecommender
    >>> signal = make_text_signal(n_users=30, n_items=40, random_state=0)
    >>> pipe = make_pipeline(
    ...     LLMEmbeddingInitializer(HashingEncoder(), n_components=16, random_state=0),
    ...     BPRRecommender(n_factors=16, epochs=2, random_state=0)).fit(signal)
    >>> pipe[-1].item_factors_.shape
    (40, 16)
    """

    _parameter_constraints: dict = {
        "encoder": [HasMethods(["embed"]), PrecomputedVectors, None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "reduction": [StrOptions({"pca", "random_projection"}), None],
        "whiten": ["boolean"],
        "mode": [StrOptions(set(EMBEDDING_MODES))],
        "add_id_embedding": ["boolean"],
        "target_std": [Interval(Real, 0, None, closed="neither"), None],
        "target": [StrOptions(set(SIDES))],
        "max_history": [Interval(Integral, 1, None, closed="left")],
        "text_columns": [str, "array-like", None],
        "user_text_columns": [str, "array-like", None],
        "unseen_items": [StrOptions(set(UNSEEN_POLICIES))],
        "unseen_users": [StrOptions(set(UNSEEN_POLICIES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, encoder=None, *, n_components=64, reduction="pca", whiten=False,
                 mode="init", add_id_embedding=True, target_std=0.1, target="items", max_history=20,
                 text_columns=None, user_text_columns=None, unseen_items="encode",
                 unseen_users="zeros", random_state=None, verbose=False):
        self.encoder = encoder
        self.n_components = n_components
        self.reduction = reduction
        self.whiten = whiten
        self.mode = mode
        self.add_id_embedding = add_id_embedding
        self.target_std = target_std
        self.target = target
        self.max_history = max_history
        self.text_columns = text_columns
        self.user_text_columns = user_text_columns
        self.unseen_items = unseen_items
        self.unseen_users = unseen_users
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Embed, reduce and rescale the text of every item (and user) in ``X``'s id map.

        Parameters
        ----------
        X : InteractionData
            Training interactions with an items table. Every item of the id map is
            embedded, including cold items with no training row: text is side
            information, not an interaction, so this leaks nothing from a held-out split.
        y : None
            Ignored.

        Returns
        -------
        self

        Examples
        --------
        >>> from skllmers.datasets import make_text_signal
        >>> from skllmers.llm.testing import HashingEncoder
        >>> from skllmers.model_enhancement import LLMEmbeddingInitializer
        >>> data = make_text_signal(n_users=20, n_items=30, random_state=0)
        >>> init = LLMEmbeddingInitializer(HashingEncoder(), n_components=8).fit(data)
        >>> init.vectors_.shape, init.encoder_dim_
        ((30, 8), 64)
        """
        X = check_interaction_data(X, "fit")
        if self.n_components is None and self.reduction == "random_projection":
            raise ValueError("reduction='random_projection' needs an integer n_components.")
        if self.whiten and self.reduction != "pca":
            raise ValueError(f"whiten=True equalises the variance of principal components "
                             f"and needs reduction='pca', not {self.reduction!r}.")
        self.encoder_ = check_encoder(self.encoder)
        sides = SIDES[self.target]
        check_precomputed_use(self.encoder_, ("items", *sides),
                              user_text_columns=self.user_text_columns)
        timer = StageTimer()
        with timer:
            raw, has_text = item_raw_vectors(X, np.arange(X.n_items), self.encoder_,
                                             text_columns=self.text_columns)
        self.encoder_dim_ = raw.shape[1]
        self.reducer_ = self._fit_reducer(raw[has_text])
        reduced = self._reduce(raw, has_text, scale=1.0)
        self.scale_ = _scale_to_std(reduced[has_text], self.target_std)
        self.vectors_ = reduced * np.float32(self.scale_)
        self.n_components_ = self.vectors_.shape[1]
        self.item_ids_ = X.item_ids
        self.user_vectors_ = self.user_ids_ = None
        if "users" in sides:
            with timer:
                self.user_vectors_ = self._user_vectors(X, np.arange(X.n_users), fitting=True)
            self.user_ids_ = X.user_ids
        self.encode_time_ = timer.seconds
        if self.verbose:
            users = 0 if self.user_vectors_ is None else int(
                np.any(self.user_vectors_ != 0, axis=1).sum())
            print(f"[{type(self).__name__}] {int(has_text.sum())} items and {users} users "
                  f"embedded in {self.encode_time_:.1f} s; width {self.encoder_dim_} -> "
                  f"{self.n_components_}.")
        return self

    def transform(self, X):
        """Attach the vectors to ``X`` as ``artifacts["item_embeddings"]`` (and
        ``artifacts["user_embeddings"]`` with a user side).

        Parameters
        ----------
        X : InteractionData
            Its item and user ids are matched to the fit data's by value; see
            ``unseen_items`` and ``unseen_users`` for ids that were not there.

        Returns
        -------
        InteractionData
            A new object; ``X`` is unchanged.

        Examples
        --------
        >>> from skllmers.datasets import make_text_signal
        >>> from skllmers.llm.testing import HashingEncoder
        >>> from skllmers.model_enhancement import LLMEmbeddingInitializer
        >>> data = make_text_signal(n_users=20, n_items=30, random_state=0)
        >>> init = LLMEmbeddingInitializer(HashingEncoder(), n_components=8,
        ...                                mode="frozen").fit(data)
        >>> artifact = init.transform(data.iloc[:5]).artifacts["item_embeddings"]
        >>> artifact.mode, artifact.vectors.shape
        ('frozen', (30, 8))

        With ``target="both"``, the users' vectors come along:

        >>> both = LLMEmbeddingInitializer(HashingEncoder(), n_components=8,
        ...                                target="both").fit(data)
        >>> sorted(both.transform(data).artifacts)
        ['item_embeddings', 'user_embeddings']
        >>> both.transform(data).artifacts["user_embeddings"].vectors.shape
        (20, 8)
        """
        check_is_fitted(self)
        X = check_interaction_data(X, "transform")
        sides = SIDES[self.target]
        artifacts = {}
        if "items" in sides:
            vectors, known = align_rows(self.item_ids_, X.item_ids, self.vectors_)
            check_unseen(known, X.item_ids, self.unseen_items, "items")
            if not known.all() and self.unseen_items == "encode":
                vectors[~known] = self._encode_unseen_items(X, np.flatnonzero(~known))
            artifacts["item_embeddings"] = self._artifact(vectors)
        if "users" in sides:
            users, known = align_rows(self.user_ids_, X.user_ids, self.user_vectors_)
            check_unseen(known, X.user_ids, self.unseen_users, "users")
            if not known.all() and self.unseen_users == "encode":
                users[~known] = self._user_vectors(X, np.flatnonzero(~known))
            artifacts["user_embeddings"] = self._artifact(users)
        return X.with_artifacts(**artifacts)

    def _artifact(self, vectors: np.ndarray) -> EmbeddingInit:
        return EmbeddingInit(vectors, mode=self.mode,
                             add_id_embedding=bool(self.add_id_embedding))

    # ------------------------------------------------------------------ helpers
    def _fit_reducer(self, raw: np.ndarray):
        n_texts, width = raw.shape
        n = self.n_components
        if self.reduction is None:
            if n is not None and n != width:
                raise ValueError(
                    f"reduction=None keeps the encoder's width ({width}), but "
                    f"n_components={n}; pass n_components=None or choose a reduction."
                )
            return None
        if self.reduction == "pca":
            if n is not None and n > min(n_texts, width):
                raise ValueError(
                    f"PCA cannot give n_components={n} from {n_texts} item texts embedded "
                    f"in {width} dimensions; use at most {min(n_texts, width)}, or "
                    "reduction='random_projection'."
                )
            return PCA(n_components=n, whiten=bool(self.whiten),
                       random_state=self.random_state).fit(raw)
        return GaussianRandomProjection(n_components=n, random_state=self.random_state).fit(raw)

    def _reduce(self, raw: np.ndarray, has_text: np.ndarray, scale: float) -> np.ndarray:
        """Reduced, scaled rows of ``raw``; rows without text stay zero."""
        width = raw.shape[1] if self.reducer_ is None else _output_width(self.reducer_)
        reduced = np.zeros((len(raw), width), dtype=np.float32)
        if has_text.any():
            rows = raw[has_text] if self.reducer_ is None else self.reducer_.transform(raw[has_text])
            reduced[has_text] = rows * scale
        return reduced

    def _user_vectors(self, X, codes: np.ndarray, fitting: bool = False) -> np.ndarray:
        """Vectors of user ``codes``, in the items' reduced and scaled coordinates."""
        sources = UserSources(X, user_text_columns=self.user_text_columns,
                              max_history=self.max_history, random_state=self.random_state,
                              required=fitting)
        texts = sources.profiles[codes]
        history = sources.from_history(codes)
        if history.any() and precomputed(self.encoder_) is None and X.items is not None:
            texts = texts.astype(object)
            texts[history] = sources.history_texts(codes[history], item_texts(
                X, self.text_columns))
        raw, has = user_raw_vectors(
            X, codes, self.encoder_, texts, sources,
            lambda items: item_raw_vectors(X, items, self.encoder_)[0],
            width=self.encoder_dim_)
        return self._reduce(raw, has, scale=self.scale_)

    def _encode_unseen_items(self, X, codes: np.ndarray) -> np.ndarray:
        if precomputed(self.encoder_) is None and X.items is None:
            return np.zeros((len(codes), self.n_components_), np.float32)
        raw, has = item_raw_vectors(X, codes, self.encoder_, width=self.encoder_dim_,
                                    text_columns=self.text_columns)
        return self._reduce(raw, has, scale=self.scale_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


def _output_width(reducer) -> int:
    return int(getattr(reducer, "n_components_", None) or reducer.n_components)


def _scale_to_std(vectors: np.ndarray, target_std) -> float:
    if target_std is None:
        return 1.0
    std = float(vectors.std())
    return 1.0 if std == 0.0 else float(target_std) / std
