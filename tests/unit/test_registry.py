import pytest

from dlcompress.toolkit.errors import DLCompressError, UnknownNameError
from dlcompress.toolkit.registry import Registry


def test_add_get_and_names():
    r: Registry[int] = Registry("thing")
    r.add("alpha", 1)
    r.add("beta", 2)
    assert r.get("alpha") == 1
    assert r.names() == ["alpha", "beta"]
    assert r.names("b*") == ["beta"]
    assert "alpha" in r and len(r) == 2


def test_duplicate_is_an_error():
    r: Registry[int] = Registry("thing")
    r.add("alpha", 1)
    with pytest.raises(DLCompressError, match="already registered"):
        r.add("alpha", 2)


def test_miss_suggests_closest():
    r: Registry[int] = Registry("model")
    r.add("resnet50", 1)
    r.add("resnet18", 2)
    with pytest.raises(UnknownNameError, match="did you mean 'resnet50'"):
        r.get("resnet5O")
