"""Keep the whole test session (tests/ and the doctests in skllmers/) hermetic.

Every LLM/encoder cache and data home points into a temporary folder, so a test run
never reads results cached by an earlier run nor writes into the user's home.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _hermetic_cache_and_data_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKLLMERS_CACHE_DIR", str(tmp_path_factory.mktemp("skllmers-cache")))
        patch.setenv("SKLLMERS_DATA", str(tmp_path_factory.mktemp("skllmers-data")))
        yield
