"""The public surface is explicit: every module declares __all__ and every name in it exists."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import external_identity
from external_identity import errors

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(external_identity.__path__, "external_identity.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_what_it_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [member for member in exported if not hasattr(module, member)]
    assert missing == []


def test_every_error_the_package_raises_descends_from_one_root() -> None:
    classes = [value for value in vars(errors).values()
               if inspect.isclass(value) and issubclass(value, Exception)]
    assert len(classes) > 10
    assert all(issubclass(cls, errors.ExternalIdentityError) for cls in classes)
    for name in errors.__all__:
        member = getattr(errors, name)
        if inspect.isclass(member):
            assert member.__doc__ is None or member.__doc__.strip()
    tree = errors.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in tree, f"{cls.__name__} is missing from the tree in the docstring"


@pytest.mark.parametrize("name", MODULES)
def test_every_exception_a_module_defines_descends_from_the_root(name: str) -> None:
    module = importlib.import_module(name)
    defined = [
        value for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, BaseException)
        and value.__module__ == name
    ]
    strays = [cls.__qualname__ for cls in defined
              if not issubclass(cls, errors.ExternalIdentityError)]
    assert strays == [], f"{name} defines exceptions outside ExternalIdentityError"
