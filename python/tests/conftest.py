import os
import sys

import pytest

# The installed package (pip install ./python) when there is one; else, run from a checkout
# without installing, the source tree's python/wisp.
try:
    import wisp  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


@pytest.fixture(scope="session")
def wisp_binary():
    """The wisp binary of $WISP (skipped with a reason when it is not set or not executable)."""
    path = os.environ.get("WISP")
    if not path:
        pytest.skip("set $WISP to a wisp binary (e.g. WISP=.build/debug/wisp after `swift build --product wisp`)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"$WISP={path} is not an executable file")
    return os.path.abspath(path)
