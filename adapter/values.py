"""``@value``: the immutable records facts, findings and outcomes are made of, cheap to make.

A run makes millions of them (one or two per resource read, a dozen or so per claim judged),
and a frozen dataclass sets each field through ``object.__setattr__``: 2.5 times the cost of
a plain ``__init__``, a tenth of the CPU of a 20,000-claim run. So a value is a slotted
dataclass with a plain ``__init__``, compared and hashed by its fields like a frozen one.
Type checkers see it frozen (``dataclass_transform``): assigning to a field is a type error,
and no code does (``tests/rules/test_purity.py`` checks that judging changes no evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def value(cls: type[T]) -> type[T]:
    return dataclass(slots=True, unsafe_hash=True)(cls)
