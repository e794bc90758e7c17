"""scikit-learn's own checks that need no 2-D data, on both enhancers."""

import pytest
from sklearn.utils import estimator_checks

from skllmers.model_enhancement import GuidanceRegularizer, LLMEmbeddingInitializer

CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_param_validation",
    "check_estimators_unfitted",
]


@pytest.mark.filterwarnings("ignore:.*set_params:UserWarning")
@pytest.mark.parametrize("check_name", CHECKS)
@pytest.mark.parametrize("Enhancer", [LLMEmbeddingInitializer, GuidanceRegularizer],
                         ids=lambda cls: cls.__name__)
def test_sklearn_check(Enhancer, check_name):
    getattr(estimator_checks, check_name)(Enhancer.__name__, Enhancer())
