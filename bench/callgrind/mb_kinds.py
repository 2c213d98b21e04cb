"""Record kinds: a 3-field slots dataclass, NamedTuple by its constructor, NamedTuple by tuple.__new__, a slots class."""
from dataclasses import dataclass, field
from typing import NamedTuple, Any
K = 1000
@dataclass(slots=True)
class D3:
    a: Any
    b: Any
    c: Any
class N3(NamedTuple):
    a: Any
    b: Any
    c: Any
class S3:
    __slots__ = ("a", "b", "c")
    def __init__(self, a, b, c):
        self.a, self.b, self.c = a, b, c
@dataclass(slots=True)
class P:
    x: Any
    d: float
    m: int
    e: frozenset = frozenset()
    r: tuple = ()
    p: Any = None
    c: Any = None
    f: list = field(default_factory=list)
    g: dict = field(default_factory=dict)
    t: set = field(default_factory=set)
@dataclass(slots=True)
class P2:
    x: Any
    d: float
    m: int
    e: frozenset = frozenset()
    r: tuple = ()
    p: Any = None
    c: Any = None
    f: Any = None
    g: Any = None
    t: Any = None
_new = tuple.__new__
def nothing(): pass
def d3(): D3(1, 2, 3)
def n3(): N3(1, 2, 3)
def n3new(): _new(N3, (1, 2, 3))
def s3(): S3(1, 2, 3)
def p(): P(1, 1.0, 3, frozenset())
def p2(): P2(1, 1.0, 3, frozenset())
CASES = {"nothing": nothing, "dataclass3": d3, "NamedTuple3": n3, "NamedTuple3 new": n3new, "slots3": s3, "plan": p, "plan lazy": p2}
