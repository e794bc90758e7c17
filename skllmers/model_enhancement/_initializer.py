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
from ._text import align_rows, check_encoder, embed_texts, item_texts, user_history_texts

__all__ = ["LLMEmbeddingInitializer"]



class LLMEmbeddingInitializer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Start a recommender's item embeddings from LLM or text-encoder vectors.

    At ``fit``, each item's text is embedded by ``encoder`` (a sentence encoder, or an
    LLM's ``embed``), reduced to ``n_components`` dimensions and rescaled; ``transform``
    attaches the vectors to the data as an :class:`~skllmers.EmbeddingInit` artifact
    (key ``"item_embeddings"``), which the next Pipeline step reads at ``fit``. This is
    Harte et al. (2023)'s initialisation (``mode="init"``) and the frozen semantic view of
    LLM-ESR / AlphaRec (``mode="frozen"``). With ``target="both"``, each user's latest
    *training* items are embedded the same way (their texts joined, most recent first)
    and attached as ``"user_embeddings"``, in the items' coordinates: the reduction and
    scale fitted on the items are applied to the users, so a user's first score for an
    item is the similarity of the item's text to the user's history. Serving never
    calls the encoder.

    Models that read the item artifact: ``BPRRecommender``, ``LightGCNRecommender`` and
    ``SASRecRecommender`` (both modes) and ``ALSRecommender`` (``mode="init"`` only);
    the user artifact: ``BPRRecommender`` and ``LightGCNRecommender``. Other
    recommenders raise a clear error when they receive one.

    Parameters
    ----------
    encoder : object with ``embed(texts)``, default=None
        Embeds a list of texts into an array ``(n_texts, d)``; ``None`` uses
        :class:`~skllmers.llm.SentenceEncoder` (all-MiniLM-L6-v2, offline). An LLM
        backend such as :class:`~skllmers.llm.LlamaCppLLM` works too. It is a nested
        parameter: ``GridSearchCV`` reaches ``...__encoder__batch_size``.
    n_components : int or None, default=64
        Width of the attached vectors. For ``mode="init"`` it must equal the
        recommender's embedding width; ``mode="frozen"`` models project any width.
        ``None`` keeps the encoder's width.
    reduction : {"pca", "random_projection"} or None, default="pca"
        How the encoder's vectors are brought to ``n_components``: PCA over the items'
        vectors (Harte et al.), a Gaussian random projection, or nothing (then
        ``n_components`` must be ``None`` or the encoder's width).
    mode : {"init", "frozen"}, default="init"
        ``"init"``: the item embedding table starts from the vectors and trains.
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
        ``mode="init"``; in ``mode="frozen"`` the torch models divide the fixed vectors
        by their mean norm before the adapter, so the scale cancels.
    text_columns : list of str, optional
        Columns of the items table that make an item's text; by default every string
        column (see ``InteractionData.item_text``).
    target : {"items", "both"}, default="items"
        Attach item vectors only, or user vectors too (``"user_embeddings"``, same
        ``mode``). User vectors come from the training rows passed to ``fit`` (augmented
        rows left out), so no held-out interaction reaches them.
    n_recent : int, default=20
        With ``target="both"``, a user is described by this many of their latest
        training items.
    unseen_items : {"zeros", "encode"}, default="zeros"
        What ``transform`` does with items that were not in the id map seen at
        ``fit``. ``"zeros"``: zero vectors, and no encoder call. ``"encode"``: embed
        their text with ``encoder`` and project it with the fitted reduction and scale
        (neither is refitted); items with no text (or data with no items table) still
        get zeros. In a Pipeline the data a model trains on is the data this step was
        fitted on, so unseen items only reach ``transform`` when serving, where the
        model ignores the artifact (and scores unknown items NaN): ``"zeros"`` keeps
        the encoder out of serving. Use ``"encode"`` when a fitted initializer prepares
        *other* data for training, e.g. a catalogue with new items. Items of the fit
        data are never re-embedded.
    random_state : int, RandomState instance or None, default=None
        Seeds PCA's randomized solver and the random projection.

    Attributes
    ----------
    vectors_ : ndarray of shape (n_items, ``n_components_``), float32
        The attached vectors, one per item code of the fit data. Items with no text
        get a zero row (the model's ID embedding, if any, still learns them).
    item_ids_ : pandas.Index
        Item id map of the fit data; ``transform`` aligns ids to it by value.
    user_vectors_ : ndarray of shape (n_users, ``n_components_``) or None
        With ``target="both"``: the attached user vectors, one per user code of the fit
        data (zero rows for users without a training row). Users not in the fit data
        get zero rows at ``transform``.
    user_ids_ : pandas.Index or None
        User id map of the fit data (``target="both"``).
    reducer_ : PCA, GaussianRandomProjection or None
        The fitted reduction.
    scale_ : float
        The scalar that brought the reduced vectors to ``target_std``.
    n_components_ : int
        Width of ``vectors_``.
    encoder_dim_ : int
        Width of the encoder's vectors.

    See Also
    --------
    GuidanceRegularizer : Align a model's embeddings with LLM profiles during training.
    skllmers.EmbeddingInit : The artifact this transformer attaches.

    References
    ----------
    .. [1] J. Harte et al., "Leveraging Large Language Models for Sequential
       Recommendation", RecSys 2023.
    .. [2] Q. Liu et al., "LLM-ESR: Large Language Models Enhancement for Long-tailed
       Sequential Recommendation", NeurIPS 2024.

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
        "encoder": [HasMethods(["embed"]), None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "reduction": [StrOptions({"pca", "random_projection"}), None],
        "mode": [StrOptions(set(EMBEDDING_MODES))],
        "add_id_embedding": ["boolean"],
        "target_std": [Interval(Real, 0, None, closed="neither"), None],
        "text_columns": ["array-like", None],
        "target": [StrOptions({"items", "both"})],
        "n_recent": [Interval(Integral, 1, None, closed="left")],
        "unseen_items": [StrOptions({"zeros", "encode"})],
        "random_state": ["random_state"],
    }

    def __init__(self, encoder=None, *, n_components=64, reduction="pca", mode="init",
                 add_id_embedding=True, target_std=0.1, text_columns=None, target="items",
                 n_recent=20, unseen_items="zeros", random_state=None):
        self.encoder = encoder
        self.n_components = n_components
        self.reduction = reduction
        self.mode = mode
        self.add_id_embedding = add_id_embedding
        self.target_std = target_std
        self.text_columns = text_columns
        self.target = target
        self.n_recent = n_recent
        self.unseen_items = unseen_items
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Embed, reduce and rescale the text of every item in ``X``'s id map.

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
        encoder = check_encoder(self.encoder)
        texts = item_texts(X, self.text_columns)
        has_text = texts != ""
        raw = embed_texts(encoder, texts, "item texts")
        self.encoder_dim_ = raw.shape[1]
        self.reducer_ = self._fit_reducer(raw[has_text])
        reduced = self._reduce(raw, has_text, scale=1.0)
        self.scale_ = _scale_to_std(reduced[has_text], self.target_std)
        self.vectors_ = reduced * np.float32(self.scale_)
        self.n_components_ = self.vectors_.shape[1]
        self.item_ids_ = X.item_ids
        self.user_vectors_ = self.user_ids_ = None
        if self.target == "both":
            self.user_vectors_ = self._user_vectors(X, texts, encoder)
            self.user_ids_ = X.user_ids
        return self

    def transform(self, X):
        """Attach the vectors to ``X`` as ``artifacts["item_embeddings"]`` (and
        ``artifacts["user_embeddings"]`` with ``target="both"``).

        Parameters
        ----------
        X : InteractionData
            Its item and user ids are matched to the fit data's by value; see
            ``unseen_items`` for items that were not there (unknown users get zeros).

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
        vectors, known = align_rows(self.item_ids_, X.item_ids, self.vectors_)
        if not known.all() and self.unseen_items == "encode":
            vectors[~known] = self._encode_unseen(X, ~known)
        artifacts = {"item_embeddings": self._artifact(vectors)}
        if self.user_vectors_ is not None:
            users, _ = align_rows(self.user_ids_, X.user_ids, self.user_vectors_)
            artifacts["user_embeddings"] = self._artifact(users)
        return X.with_artifacts(**artifacts)

    def _artifact(self, vectors: np.ndarray) -> EmbeddingInit:
        return EmbeddingInit(vectors, mode=self.mode,
                             add_id_embedding=bool(self.add_id_embedding))

    def get_feature_names_out(self, input_features=None):
        """Names of the vector dimensions, ``llmembeddinginitializer0``, ``...1``, ...

        Parameters
        ----------
        input_features : None
            Ignored; the vectors come from text, not from input columns.

        Returns
        -------
        ndarray of str, shape (``n_components_``,)

        Examples
        --------
        >>> from skllmers.datasets import make_text_signal
        >>> from skllmers.llm.testing import HashingEncoder
        >>> from skllmers.model_enhancement import LLMEmbeddingInitializer
        >>> data = make_text_signal(n_users=20, n_items=30, random_state=0)
        >>> init = LLMEmbeddingInitializer(HashingEncoder(), n_components=3).fit(data)
        >>> init.get_feature_names_out().tolist()
        ['llmembeddinginitializer0', 'llmembeddinginitializer1', 'llmembeddinginitializer2']
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_components_)], dtype=object)

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
            return PCA(n_components=n, random_state=self.random_state).fit(raw)
        return GaussianRandomProjection(n_components=n, random_state=self.random_state).fit(raw)

    def _reduce(self, raw: np.ndarray, has_text: np.ndarray, scale: float) -> np.ndarray:
        """Reduced, scaled rows of ``raw``; rows without text stay zero."""
        width = raw.shape[1] if self.reducer_ is None else _output_width(self.reducer_)
        reduced = np.zeros((len(raw), width), dtype=np.float32)
        if has_text.any():
            rows = raw[has_text] if self.reducer_ is None else self.reducer_.transform(raw[has_text])
            reduced[has_text] = rows * scale
        return reduced

    def _user_vectors(self, X, texts: np.ndarray, encoder) -> np.ndarray:
        """Each user's history text, embedded and put in the items' reduced coordinates."""
        histories = user_history_texts(X, texts, self.n_recent, self.random_state)
        has_history = histories != ""
        raw = np.zeros((len(histories), self.encoder_dim_), np.float32)
        if has_history.any():
            raw[has_history] = embed_texts(encoder, histories[has_history], "user histories")
        return self._reduce(raw, has_history, scale=self.scale_)

    def _encode_unseen(self, X, unseen: np.ndarray) -> np.ndarray:
        if X.items is None:
            return np.zeros((int(unseen.sum()), self.n_components_), np.float32)
        texts = item_texts(X, self.text_columns)[unseen]
        has_text = texts != ""
        if not has_text.any():
            return np.zeros((int(unseen.sum()), self.n_components_), np.float32)
        raw = np.zeros((len(texts), self.encoder_dim_), np.float32)
        raw[has_text] = embed_texts(check_encoder(self.encoder), texts[has_text])
        return self._reduce(raw, has_text, scale=self.scale_)

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
