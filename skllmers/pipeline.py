"""A Pipeline whose enhancers work at fit time only, and that serves recommendations.

:class:`Pipeline` is scikit-learn's :class:`~sklearn.pipeline.Pipeline` with three
differences, in the way imbalanced-learn ships its own for samplers:

* **Fit-only resamplers.** A step with ``fit_resample`` (such as
  :class:`~skllmers.LLMInteractionAugmenter`, which adds or drops training rows) is
  applied by ``fit`` through ``fit_resample``, and skipped by every other method: its
  ``transform`` is never called, so held-out rows are never edited.
* **Serving.** :meth:`Pipeline.recommend` and :meth:`Pipeline.similar_items` go
  straight to the final recommender; no step runs again.
* **Predicting and scoring.** When the final step is a recommender,
  :meth:`Pipeline.predict` and :meth:`Pipeline.score` hand ``X`` to it as it is,
  without the enhancers' ``transform``. Enhancers only attach fit-time artifacts
  (features, embeddings, guidance targets, negatives) or rows, and a fitted
  recommender neither reads artifacts after ``fit`` nor needs its input's codes: it
  matches the users and items of ``X`` to its training ids by value. Running the
  enhancers again would cost encoder or LLM calls at serving time (``unseen_items=
  "encode"`` embeds every unseen item) for artifacts nothing reads, so the numbers
  are the same and only the cost differs.
"""

from __future__ import annotations

from sklearn import pipeline
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if

__all__ = ["Pipeline", "make_pipeline"]


def _final_estimator_has(attr: str):
    def check(self):
        getattr(self._final_estimator, attr)  # raises the AttributeError if absent
        return True
    return check


def _is_resampler(step) -> bool:
    return hasattr(step, "fit_resample")


def _is_recommender(step) -> bool:
    return hasattr(step, "recommend")


class _FitResample(BaseEstimator):
    """A resampler as scikit-learn's Pipeline sees it while it fits (see ``Pipeline._fit``).

    Its ``fit_transform`` is the resampler's ``fit_resample``; it has no ``transform``
    worth calling, and it never outlives ``Pipeline.fit``.
    """

    def __init__(self, resampler):
        self.resampler = resampler

    def fit_transform(self, X, y=None, **params):
        result = self.resampler.fit_resample(X, y, **params)
        # imbalanced-learn's samplers return (X, y); skllmers' return X (y is None)
        return result[0] if isinstance(result, tuple) else result

    def fit(self, X, y=None, **params):
        self.fit_transform(X, y, **params)
        return self

    def transform(self, X):
        raise RuntimeError("A fit-only resampler is never applied outside fit.")


class Pipeline(pipeline.Pipeline):
    """A chain of enhancers (transformers and fit-only resamplers) and a final recommender.

    Works as scikit-learn's :class:`~sklearn.pipeline.Pipeline` (``fit``, ``set_params``
    with ``step__param``, ``clone``, pickling, ``GridSearchCV``), except that (see the
    module docstring for why):

    * a step with ``fit_resample`` is applied through it by ``fit`` only, and never by
      ``transform``, ``predict`` or ``score``;
    * :meth:`recommend` and :meth:`similar_items` call the final recommender directly;
    * with a recommender last, :meth:`predict` and :meth:`score` pass ``X`` to it
      without any step's ``transform``.

    With any other final estimator, ``predict``, ``score`` and ``transform`` run the
    transformers as scikit-learn's Pipeline does (resamplers still skipped).

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        The steps in order; the last one is the final estimator (usually a skllmers
        recommender). Intermediate steps implement ``fit`` and ``transform``, or
        ``fit_resample``; ``"passthrough"`` or ``None`` skip a step.
    memory : str or object with the joblib.Memory interface, default=None
        Caches the fitted steps, as in scikit-learn (skllmers' LLM and encoder calls
        are cached on their own already).
    transform_input : list of str, default=None
        As in scikit-learn (metadata routing only).
    verbose : bool, default=False
        Print the time each step takes to fit.

    Attributes
    ----------
    named_steps : :class:`~sklearn.utils.Bunch`
        The steps by name.

    See Also
    --------
    make_pipeline : Build a Pipeline with the steps named after their classes.

    Examples
    --------
    >>> from skllmers import LLMEmbeddingInitializer
    >>> from skllmers.datasets import make_text_signal
    >>> from skllmers.llm.testing import HashingEncoder
    >>> from skllmers.model_selection import LeaveLastOut
    >>> from skllmers.pipeline import Pipeline
    >>> from skllmers.recommenders import BPRRecommender
    >>> data = make_text_signal(n_users=30, n_items=40, interactions_per_user=8,
    ...                         random_state=0)
    >>> train_idx, test_idx = next(LeaveLastOut(random_state=0).split(data))
    >>> train, test = data[train_idx], data[test_idx]
    >>> pipe = Pipeline([
    ...     ("init", LLMEmbeddingInitializer(encoder=HashingEncoder(), n_components=8)),
    ...     ("bpr", BPRRecommender(n_factors=8, epochs=2, random_state=0)),
    ... ]).fit(train)
    >>> pipe.recommend([data.user_ids[0]], k=3)["rank"].tolist()  # no encoder call
    [1, 2, 3]
    >>> pipe.score(test) == pipe[-1].score(test)  # the enhancer does not run again
    True
    """

    def _iter(self, with_final=True, filter_passthrough=True, filter_resample=True):
        """``(idx, name, step)`` of the steps; fit-only resamplers are left out by default."""
        for idx, name, step in super()._iter(with_final=with_final,
                                             filter_passthrough=filter_passthrough):
            if not (filter_resample and _is_resampler(step)):
                yield idx, name, step

    def _fit(self, X, y=None, *args, **kwargs):
        """Fit every step but the last; resamplers through ``fit_resample``.

        scikit-learn's own loop does the work (caching, routing, timing, callbacks): each
        resampler goes in wrapped as a transformer whose ``fit_transform`` is its
        ``fit_resample``, and comes out fitted, unwrapped, when the loop ends.
        """
        self.steps = list(self.steps)
        wrapped = [idx for idx, (_, step) in enumerate(self.steps[:-1]) if _is_resampler(step)]
        for idx in wrapped:
            name, step = self.steps[idx]
            self.steps[idx] = (name, _FitResample(step))
        try:
            return super()._fit(X, y, *args, **kwargs)
        finally:
            for idx in wrapped:
                name, step = self.steps[idx]
                self.steps[idx] = (name, step.resampler)

    # ------------------------------------------------------------------ serving
    @available_if(_final_estimator_has("recommend"))
    def recommend(self, users, k: int = 10, **kwargs):
        """Top-``k`` items per user from the final recommender; no step runs again.

        Parameters
        ----------
        users : array-like
            External user ids.
        k : int, default=10
            Items per user.
        **kwargs
            Passed on to the final recommender's ``recommend`` (``exclude_seen``,
            ``unknown``, ...).

        Returns
        -------
        pandas.DataFrame
            As the final recommender's ``recommend``.
        """
        return self._final_estimator.recommend(users, k, **kwargs)

    @available_if(_final_estimator_has("similar_items"))
    def similar_items(self, items, k: int = 10, **kwargs):
        """The ``k`` items most similar to each of ``items``, from the final recommender.

        Parameters
        ----------
        items : array-like
            External item ids.
        k : int, default=10
        **kwargs
            Passed on to the final recommender's ``similar_items``.

        Returns
        -------
        pandas.DataFrame
            As the final recommender's ``similar_items``.
        """
        return self._final_estimator.similar_items(items, k, **kwargs)

    # ------------------------------------------------------------------ predicting
    @available_if(_final_estimator_has("predict"))
    def predict(self, X, **params):
        """Scores of ``X``'s rows by the final estimator.

        With a recommender last, ``X`` goes to it as it is: no step's ``transform``
        runs (enhancers only make fit-time artifacts; the recommender matches ids by
        value). Otherwise as scikit-learn's ``Pipeline.predict``.

        Parameters
        ----------
        X : InteractionData
            Rows to score.
        **params
            Passed on to the final estimator's ``predict``.

        Returns
        -------
        ndarray of shape (len(X),)
        """
        if _is_recommender(self._final_estimator):
            return self._final_estimator.predict(X, **params)
        return super().predict(X, **params)

    @available_if(_final_estimator_has("score"))
    def score(self, X, y=None, sample_weight=None, **params):
        """The final estimator's score of held-out ``X`` (NDCG@10 for a recommender).

        With a recommender last, ``X`` goes to it as it is, so the number is the final
        step's own ``score(X)``, and ``GridSearchCV`` scores a fold without running any
        enhancer on the held-out rows. Otherwise as scikit-learn's ``Pipeline.score``.

        Parameters
        ----------
        X : InteractionData
            Held-out interactions.
        y : None
            Ignored.
        sample_weight : None
            Passed on to the final estimator (recommenders reject it).
        **params
            Passed on to the final estimator's ``score``.

        Returns
        -------
        float
        """
        final = self._final_estimator
        if _is_recommender(final):
            if sample_weight is not None:
                params["sample_weight"] = sample_weight
            return final.score(X, y, **params)
        return super().score(X, y, sample_weight=sample_weight, **params)


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False) -> Pipeline:
    """Build a :class:`Pipeline` from the steps, named after their classes (lowercase).

    Parameters
    ----------
    *steps : estimators
        Enhancers (transformers or fit-only resamplers), then a recommender.
    memory : str or object with the joblib.Memory interface, default=None
        See :class:`Pipeline`.
    transform_input : list of str, default=None
        See :class:`Pipeline`.
    verbose : bool, default=False
        Print the time each step takes to fit.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from skllmers import GuidanceRegularizer
    >>> from skllmers.datasets import make_text_signal
    >>> from skllmers.llm.testing import HashingEncoder
    >>> from skllmers.pipeline import make_pipeline
    >>> from skllmers.recommenders import PopularityRecommender
    >>> pipe = make_pipeline(GuidanceRegularizer(encoder=HashingEncoder()),
    ...                      PopularityRecommender())
    >>> [name for name, _ in pipe.steps]
    ['guidanceregularizer', 'popularityrecommender']
    """
    kwargs = {"memory": memory, "verbose": verbose}
    if transform_input is not None:  # scikit-learn < 1.6 has no such parameter
        kwargs["transform_input"] = transform_input
    named = pipeline.make_pipeline(*steps).steps  # scikit-learn's naming rule
    return Pipeline(named, **kwargs)
