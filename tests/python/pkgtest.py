"""Helpers for the Python package tests (tests/python/test_pkg_*.py).

The tests import the `brine` package from python/ with the library and tool of the CMake build
($BRINE_LIBRARY, $BRINE_CLI, set by tests/python_package.cmake), so they need no wheel; the
one test that builds and installs the wheel is tests/python/pkg_install.py.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GEN_DIR = REPO / "tests" / "gen"
SAMPLES = REPO / "samples"

if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))


def torch_bytes(t):
    """A tensor's elements in C order as bytes (bfloat16/float8 viewed as integers), so
    NaNs and signed zeros compare exactly."""
    import torch
    t = t.detach().contiguous().cpu()
    if t.dtype.is_complex:
        t = torch.view_as_real(t).contiguous()
    if t.element_size() == 1:
        return t.view(torch.uint8).numpy().tobytes()
    width = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.view(width).numpy().tobytes()


def assert_same(want, got, path="root"):
    """Asserts that got is want as torch.load(weights_only=True) returns it: the same types
    (dict vs OrderedDict, list vs tuple, int vs float), keys in the same order, scalars equal
    (NaN-aware), tensors with the same dtype, shape and bytes, and an OrderedDict's _metadata
    (what nn.Module.load_state_dict reads) equal."""
    import torch
    assert type(got) is type(want), f"{path}: {type(want).__name__} expected, got {type(got).__name__}"
    if isinstance(want, torch.Tensor):
        assert got.dtype == want.dtype, f"{path}: dtype {want.dtype} expected, got {got.dtype}"
        assert tuple(got.shape) == tuple(want.shape), f"{path}: shape {tuple(want.shape)} expected, got {tuple(got.shape)}"
        assert torch_bytes(got) == torch_bytes(want), f"{path}: tensor values differ"
        assert got.requires_grad == want.requires_grad, f"{path}: requires_grad differs"
    elif isinstance(want, dict):
        assert list(got.keys()) == list(want.keys()), f"{path}: keys {list(want)} expected, got {list(got)}"
        for k in want:
            assert_same(want[k], got[k], f"{path}[{k!r}]")
        assert_same(getattr(want, "_metadata", None), getattr(got, "_metadata", None),
                    f"{path}._metadata")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{path}: length {len(want)} expected, got {len(got)}"
        for i, (w, g) in enumerate(zip(want, got)):
            assert_same(w, g, f"{path}[{i}]")
    elif isinstance(want, float) and want != want:
        assert got != got, f"{path}: NaN expected, got {got!r}"
    else:
        assert got == want, f"{path}: {want!r} expected, got {got!r}"
