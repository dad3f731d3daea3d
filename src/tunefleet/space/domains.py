"""Search-space domains, compatible with Ray Tune's search-space functions.

Every domain validates its arguments when it is built (the message names the function
and the argument), samples plain Python values, maps to and from the unit interval (what
model-based and quasi-random searchers work in) and round-trips through JSON (what the
experiment store keeps).

Quantised domains (``q``) only produce multiples of ``q`` that lie inside the bounds; Ray
rejects bounds that are not multiples of ``q``, tunefleet accepts them and clips.
``qrandint``/``qlograndint``/``quniform``/``qloguniform`` include ``upper``; ``randint``
and ``lograndint`` exclude it, as in Ray.

Why one module of ~850 lines: it is Ray Tune's whole set of search-space functions (15
of them) with their validation, sampling, unit-cube mapping and JSON, one small class
each; splitting them would scatter one vocabulary that searchers import as a whole.
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.space._view import ConfigView, Spec

if TYPE_CHECKING:
    from tunefleet.space.lazy_rng import Rng


def plain(value: Any) -> Any:
    """``value`` with a numpy scalar turned into its Python value. numpy is not imported
    for this: a value cannot be a numpy scalar unless numpy is loaded already, and the
    space must not cost numpy's import to a sweep that never samples (see tunefleet.search)."""
    np_ = sys.modules.get("numpy")
    if np_ is not None and isinstance(value, np_.generic):
        return value.item()
    return value


_MARK = "__tunefleet__"
_U_EPS = 1e-12  # keeps the inverse normal CDF finite at u = 0 or 1
_Q_EPS = 1e-9  # tolerance when deciding which multiples of q fit inside the bounds


def _short(value: Any) -> str:
    return reprlib.repr(value)


def _call_repr(fn: str, args: Mapping[str, Any]) -> str:
    return f"{fn}({', '.join(f'{k}={_short(v)}' for k, v in args.items())})"


def _clip01(u: Any) -> float:
    u = float(u)
    if u > 0.0:
        return u if u < 1.0 else 1.0
    return 0.0  # also maps NaN to 0, so from_unit never returns garbage


def _real(where: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TuneTypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise TuneValueError(f"{where}: {name} must be finite, got {value!r}")
    return out


def _integer(where: str, name: str, value: Any) -> int:
    out = _real(where, name, value)
    if not out.is_integer():
        raise TuneValueError(f"{where}: {name} must be an integer, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else int(out)


def _check_base(where: str, base: float) -> None:
    if base <= 0 or base == 1:
        raise TuneValueError(f"{where}: base must be > 0 and != 1, got {base!r}")


def _check_q(where: str, q: float) -> None:
    if q <= 0:
        raise TuneValueError(f"{where}: q must be > 0, got {q!r}")


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from 1.0 from True and survives objects like arrays."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


class Domain:
    """A set of values to search over. Subclasses set ``fn``: the function that built it."""

    fn: str
    is_grid: ClassVar[bool] = False
    is_function: ClassVar[bool] = False

    def args(self) -> dict[str, Any]:
        """The constructor arguments (normalised), as ``fn(**args())`` would rebuild it."""
        raise NotImplementedError

    def sample(self, rng: Rng) -> Any:
        return self.from_unit(rng.random())

    def to_unit(self, value: Any) -> float:
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    @property
    def cardinality(self) -> int | None:
        """Number of distinct values, or None when continuous (or unbounded)."""
        return None

    def values(self) -> list[Any] | None:
        """Every value, in order, for finite domains; None otherwise."""
        return None

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def validate(self) -> None:
        """Re-check the arguments (they are checked at construction already)."""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.fn, **self.args()}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Domain)
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))

    def __repr__(self) -> str:
        return _call_repr(self.fn, self.args())


class Float(Domain):
    """uniform / quniform / loguniform / qloguniform."""

    def __init__(
        self,
        lower: Any,
        upper: Any,
        *,
        log: bool = False,
        q: Any = None,
        base: Any = 10,
        fn: str | None = None,
    ) -> None:
        self.fn = fn or ("q" if q is not None else "") + ("loguniform" if log else "uniform")
        raw: dict[str, Any] = {"lower": lower, "upper": upper}
        if q is not None:
            raw["q"] = q
        if log and base != 10:
            raw["base"] = base
        where = _call_repr(self.fn, raw)
        self.lower = _real(where, "lower", lower)
        self.upper = _real(where, "upper", upper)
        self.log = bool(log)
        self.q = None if q is None else _real(where, "q", q)
        self.base = _real(where, "base", base)
        self._check(where)

    def _check(self, where: str) -> None:
        if not self.lower < self.upper:
            raise TuneValueError(f"{where}: lower must be < upper")
        if self.log:
            if self.lower <= 0:
                raise TuneValueError(f"{where}: lower must be > 0")
            _check_base(where, self.base)
            self._a, self._b = math.log(self.lower), math.log(self.upper)
        else:
            self._a, self._b = self.lower, self.upper
        if self.q is not None:
            _check_q(where, self.q)
            self._kmin = math.ceil(self.lower / self.q - _Q_EPS)
            self._kmax = math.floor(self.upper / self.q + _Q_EPS)
            if self._kmin > self._kmax:
                raise TuneValueError(f"{where}: q is too large: no multiple of q lies in bounds")

    def validate(self) -> None:
        self._check(repr(self))

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lower": self.lower, "upper": self.upper}
        if self.q is not None:
            out["q"] = self.q
        if self.log and self.base != 10:
            out["base"] = self.base
        return out

    def _quantize(self, x: float) -> float:
        assert self.q is not None
        k = round(x / self.q)
        k = self._kmin if k < self._kmin else self._kmax if k > self._kmax else k
        return self._clip(k * self.q)

    def _clip(self, x: float) -> float:
        return self.lower if x < self.lower else self.upper if x > self.upper else x

    def from_unit(self, u: float) -> float:
        x = self._a + _clip01(u) * (self._b - self._a)
        if self.log:
            x = math.exp(x)
        return self._quantize(x) if self.q is not None else self._clip(x)

    def to_unit(self, value: Any) -> float:
        x = float(value)
        t = math.log(x) if self.log and x > 0 else (self._a if self.log else x)
        return _clip01((t - self._a) / (self._b - self._a))

    @property
    def cardinality(self) -> int | None:
        return None if self.q is None else self._kmax - self._kmin + 1

    def values(self) -> list[Any] | None:
        if self.q is None:
            return None
        return [self._clip(k * self.q) for k in range(self._kmin, self._kmax + 1)]

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        x = float(value)
        if not self.lower <= x <= self.upper:
            return False
        return self.q is None or abs(self._quantize(x) - x) <= 1e-9 * max(1.0, abs(x))


class Integer(Domain):
    """randint / qrandint / lograndint / qlograndint; values are multiples of ``q``."""

    def __init__(
        self,
        lower: Any,
        upper: Any,
        *,
        log: bool = False,
        q: Any = None,
        base: Any = 10,
        upper_inclusive: bool = False,
        fn: str | None = None,
    ) -> None:
        self.fn = fn or ("q" if q is not None else "") + ("lograndint" if log else "randint")
        raw: dict[str, Any] = {"lower": lower, "upper": upper}
        if q is not None:
            raw["q"] = q
        if log and base != 10:
            raw["base"] = base
        where = _call_repr(self.fn, raw)
        self.lower = _integer(where, "lower", lower)
        self.upper = _integer(where, "upper", upper)
        self.q = None if q is None else _integer(where, "q", q)
        self.log = bool(log)
        self.base = _real(where, "base", base)
        self.upper_inclusive = bool(upper_inclusive)
        self._check(where)

    def _check(self, where: str) -> None:
        if self.upper_inclusive:
            if self.lower > self.upper:
                raise TuneValueError(f"{where}: lower must be <= upper")
        elif self.lower >= self.upper:
            raise TuneValueError(f"{where}: lower must be < upper (upper is exclusive)")
        q = 1 if self.q is None else self.q
        _check_q(where, q)
        if self.log:
            if self.lower <= 0:
                raise TuneValueError(f"{where}: lower must be > 0")
            _check_base(where, self.base)
            self._a, self._b = math.log(self.lower), math.log(self.upper)
        hi = self.upper if self.upper_inclusive else self.upper - 1
        self._step = q
        self._kmin = -(-self.lower // q)
        self._kmax = hi // q
        if self._kmin > self._kmax:
            raise TuneValueError(f"{where}: q is too large: no multiple of q lies in bounds")
        self._n = self._kmax - self._kmin + 1

    def validate(self) -> None:
        self._check(repr(self))

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lower": self.lower, "upper": self.upper}
        if self.q is not None:
            out["q"] = self.q
        if self.log and self.base != 10:
            out["base"] = self.base
        if self.upper_inclusive != self.fn.startswith("q"):  # built directly, not by name
            out["upper_inclusive"] = self.upper_inclusive
        return out

    def from_unit(self, u: float) -> int:
        u = _clip01(u)
        if not self.log:
            i = int(u * self._n)
            return (self._kmin + (i if i < self._n else self._n - 1)) * self._step
        x = math.exp(self._a + u * (self._b - self._a))
        # exclusive upper: [lower, upper) floored (Ray); inclusive: rounded to the step
        k = math.floor(x / self._step) if not self.upper_inclusive else round(x / self._step)
        k = self._kmin if k < self._kmin else self._kmax if k > self._kmax else k
        return int(k * self._step)

    def to_unit(self, value: Any) -> float:
        k = round(float(value) / self._step)
        k = self._kmin if k < self._kmin else self._kmax if k > self._kmax else k
        if not self.log:
            return (k - self._kmin + 0.5) / self._n
        if self._b == self._a:
            return 0.5
        if not self.upper_inclusive:
            # the middle of the bucket [k * step, (k + 1) * step) that floors to k
            mid = (k + 0.5) * self._step
            return _clip01((math.log(mid) - self._a) / (self._b - self._a))
        return _clip01((math.log(k * self._step) - self._a) / (self._b - self._a))

    @property
    def cardinality(self) -> int | None:
        return self._n

    def values(self) -> list[Any] | None:
        return [k * self._step for k in range(self._kmin, self._kmax + 1)]

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        x = float(value)
        if not x.is_integer() or x % self._step:
            return False
        return self._kmin <= x // self._step <= self._kmax


class Normal(Domain):
    """randn / qrandn: a normal distribution (unbounded; the unit map uses its CDF)."""

    def __init__(self, mean: Any = 0.0, sd: Any = 1.0, q: Any = None) -> None:
        self.fn = "randn" if q is None else "qrandn"
        raw: dict[str, Any] = {"mean": mean, "sd": sd}
        if q is not None:
            raw["q"] = q
        where = _call_repr(self.fn, raw)
        self.mean = _real(where, "mean", mean)
        self.sd = _real(where, "sd", sd)
        self.q = None if q is None else _real(where, "q", q)
        self._check(where)

    def _check(self, where: str) -> None:
        if self.sd <= 0:
            raise TuneValueError(f"{where}: sd must be > 0, got {self.sd!r}")
        if self.q is not None:
            _check_q(where, self.q)
        from statistics import NormalDist  # here: statistics imports fractions, decimal

        self._dist = NormalDist(self.mean, self.sd)

    def validate(self) -> None:
        self._check(repr(self))

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean, "sd": self.sd}
        if self.q is not None:
            out["q"] = self.q
        return out

    def _quantize(self, x: float) -> float:
        return x if self.q is None else round(x / self.q) * self.q

    def sample(self, rng: Rng) -> float:
        return self._quantize(self.mean + self.sd * float(rng.standard_normal()))

    def from_unit(self, u: float) -> float:
        u = min(max(_clip01(u), _U_EPS), 1.0 - _U_EPS)
        return self._quantize(self._dist.inv_cdf(u))

    def to_unit(self, value: Any) -> float:
        return _clip01(self._dist.cdf(float(value)))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        x = float(value)
        if not math.isfinite(x):
            return False
        return self.q is None or abs(self._quantize(x) - x) <= 1e-9 * max(1.0, abs(x))


def _as_list(where: str, name: str, seq: Any) -> list[Any]:
    if isinstance(seq, str | bytes | Mapping | set | frozenset) or not hasattr(seq, "__iter__"):
        raise TuneTypeError(f"{where}: {name} must be a list or tuple, got {type(seq).__name__}")
    if hasattr(seq, "tolist") and not isinstance(seq, list | tuple):  # a numpy array
        seq = seq.tolist()
    out = [plain(v) for v in seq]
    if not out:
        raise TuneValueError(f"{where}: {name} must not be empty")
    return out


class Categorical(Domain):
    """choice: one of a list of categories (any objects; compared by type and value).

    JSON: categories that are not JSON (classes, functions, objects) are stored as their
    repr; loading gives :class:`OpaqueValue` placeholders, so only JSON-able categories
    round-trip exactly.
    """

    _arg = "categories"

    def __init__(self, categories: Any, fn: str = "choice") -> None:
        self.fn = fn
        where = f"{fn}({self._arg}={_short(categories)})"
        self.categories = _as_list(where, self._arg, categories)
        self._n = len(self.categories)

    def args(self) -> dict[str, Any]:
        return {self._arg: list(self.categories)}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.fn, self._arg: [encode_value(c) for c in self.categories]}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Categorical)
        return (
            self.fn == other.fn
            and self._n == other._n
            and all(_same(a, b) for a, b in zip(self.categories, other.categories, strict=True))
        )

    def __hash__(self) -> int:
        return hash((self.fn, self._n))

    def validate(self) -> None:
        if not self.categories:
            raise TuneValueError(f"{self.fn}({self._arg}=[]): {self._arg} must not be empty")

    def index(self, value: Any) -> int:
        """Position of ``value`` among the categories (identity first, then equality)."""
        for i, c in enumerate(self.categories):
            if c is value:
                return i
        for i, c in enumerate(self.categories):
            if _same(c, value):
                return i
        raise TuneValueError(f"{self!r}: {_short(value)} is not one of the {self._arg}")

    def sample(self, rng: Rng) -> Any:
        i = int(rng.random() * self._n)
        return self.categories[i if i < self._n else self._n - 1]

    def from_unit(self, u: float) -> Any:
        i = int(_clip01(u) * self._n)
        return self.categories[i if i < self._n else self._n - 1]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / self._n

    @property
    def cardinality(self) -> int | None:
        return self._n

    def values(self) -> list[Any] | None:
        return list(self.categories)

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except TuneValueError:
            return False
        return True


class Grid(Categorical):
    """grid_search: a grid axis. Grid searchers expand it; others treat it as a choice."""

    is_grid: ClassVar[bool] = True
    _arg = "values"

    def __init__(self, values: Any) -> None:
        super().__init__(values, fn="grid_search")


def _describe(func: Callable[..., Any]) -> dict[str, Any]:
    import inspect  # here: ~10 ms of import that only sample_from needs
    import textwrap

    try:
        source: str | None = textwrap.dedent(inspect.getsource(func)).strip()
    except (OSError, TypeError):
        source = None
    return {
        "type": "sample_from",
        "module": getattr(func, "__module__", None),
        "qualname": getattr(func, "__qualname__", type(func).__qualname__),
        "source": source,
    }


class Function(Domain):
    """sample_from: a value computed from the rest of the config (or conditional domain).

    ``func(spec)`` reads ``spec.config`` (attribute or item access); a zero-argument
    ``func()`` is allowed. A returned Domain is sampled. Functions are not stored: JSON
    keeps a description (module, qualname, source) and loads as a placeholder that raises
    when evaluated.
    """

    fn = "sample_from"
    is_function: ClassVar[bool] = True

    def __init__(self, func: Callable[..., Any]) -> None:
        if not callable(func):
            raise TuneTypeError(f"sample_from(func={_short(func)}): func must be callable")
        self.func: Callable[..., Any] | None = func
        self.pass_spec = _takes_spec(func)
        self._desc: dict[str, Any] | None = None

    @classmethod
    def placeholder(cls, description: Mapping[str, Any]) -> Function:
        """A stand-in for a function loaded from JSON; evaluating it raises."""
        self = cls.__new__(cls)
        self.func = None
        self.pass_spec = False
        self._desc = {"type": "sample_from", **description}
        return self

    def description(self) -> dict[str, Any]:
        if self._desc is None:
            assert self.func is not None
            self._desc = _describe(self.func)
        return dict(self._desc)

    def args(self) -> dict[str, Any]:
        return {"func": self.func}

    def to_json(self) -> dict[str, Any]:
        return self.description()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Function)
        if self.func is not None or other.func is not None:
            return self.func is other.func
        return self._desc == other._desc

    def __hash__(self) -> int:
        return hash(id(self.func)) if self.func is not None else hash(repr(self._desc))

    def __repr__(self) -> str:
        if self.func is None:
            return f"sample_from(<not restorable: {self.description().get('qualname')}>)"
        return f"sample_from({getattr(self.func, '__qualname__', self.func)!r})"

    def call(self, spec: Spec) -> Any:
        """Evaluate the function; the resolver post-processes what it returns."""
        if self.func is None:
            raise TuneValueError(
                f"{self!r}: this sample_from was loaded from JSON and its function cannot be "
                "restored; pass the original search space"
            )
        return self.func(spec) if self.pass_spec else self.func()

    def sample(self, rng: Rng) -> Any:
        value = self.call(Spec(ConfigView({})))
        for _ in range(100):
            if not isinstance(value, Domain):
                break
            value = (
                value.call(Spec(ConfigView({})))
                if isinstance(value, Function)
                else value.sample(rng)
            )
        return plain(value)

    def _no_unit(self) -> TuneTypeError:
        return TuneTypeError(f"{self!r}: sample_from has no unit-interval form")

    def to_unit(self, value: Any) -> float:
        raise self._no_unit()

    def from_unit(self, u: float) -> Any:
        raise self._no_unit()

    def contains(self, value: Any) -> bool:
        return True


def _takes_spec(func: Callable[..., Any]) -> bool:
    import inspect

    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return True  # builtins without a signature: assume Ray's one-argument form
    try:
        sig.bind(None)
        return True
    except TypeError:
        pass
    try:
        sig.bind()
        return False
    except TypeError:
        raise TuneTypeError(
            f"sample_from(func={_short(func)}): func must take one argument (spec) or none"
        ) from None


class InvalidDomain(Domain):
    """What a public factory returns for bad arguments (``uniform(2, 1)``): it holds the
    error and raises it on any use. A dict literal gives the factory no way to know its key,
    so the error waits for ``validate_space`` (run by ``tune.run``/``Tuner`` before any
    compute), which raises it prefixed with the key: ``config['model']['lr']: ...``."""

    def __init__(self, error: TuneValueError | TuneTypeError, fn: str) -> None:
        self.error = error
        self.fn = fn

    def _raise(self, *_: Any, **__: Any) -> Any:
        raise type(self.error)(str(self.error))

    args = sample = to_unit = from_unit = contains = values = validate = to_json = _raise

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<invalid {self.fn}: {self.error}>"


def _checked(fn: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except (TuneValueError, TuneTypeError) as exc:
        return InvalidDomain(exc, fn)


# --------------------------------------------------------------------- public factories


def uniform(lower: float, upper: float) -> Float:
    """A float uniformly in [lower, upper)."""
    return _checked("uniform", lambda: Float(lower, upper, fn="uniform"))


def quniform(lower: float, upper: float, q: float) -> Float:
    """A float uniformly in [lower, upper], rounded to a multiple of q."""
    return _checked("quniform", lambda: Float(lower, upper, q=q, fn="quniform"))


def loguniform(lower: float, upper: float, base: float = 10) -> Float:
    """A float uniform in log space over [lower, upper); lower must be > 0."""
    return _checked("loguniform", lambda: Float(lower, upper, log=True, base=base, fn="loguniform"))


def qloguniform(lower: float, upper: float, q: float, base: float = 10) -> Float:
    """loguniform rounded to a multiple of q (upper inclusive)."""
    return _checked(
        "qloguniform", lambda: Float(lower, upper, log=True, q=q, base=base, fn="qloguniform")
    )


def randn(mean: float = 0.0, sd: float = 1.0) -> Normal:
    """A float from a normal distribution."""
    return _checked("randn", lambda: Normal(mean, sd))


def qrandn(mean: float, sd: float, q: float) -> Normal:
    """randn rounded to a multiple of q."""
    return _checked("qrandn", lambda: Normal(mean, sd, q))


def randint(lower: int, upper: int) -> Integer:
    """An integer uniformly in [lower, upper) (upper exclusive, as Ray)."""
    return _checked("randint", lambda: Integer(lower, upper, fn="randint"))


def qrandint(lower: int, upper: int, q: int = 1) -> Integer:
    """A multiple of q uniformly in [lower, upper] (upper inclusive, as Ray)."""
    return _checked(
        "qrandint", lambda: Integer(lower, upper, q=q, upper_inclusive=True, fn="qrandint")
    )


def lograndint(lower: int, upper: int, base: float = 10) -> Integer:
    """An integer log-uniformly in [lower, upper) (upper exclusive, as Ray)."""
    return _checked(
        "lograndint", lambda: Integer(lower, upper, log=True, base=base, fn="lograndint")
    )


def qlograndint(lower: int, upper: int, q: int, base: float = 10) -> Integer:
    """A multiple of q log-uniformly in [lower, upper] (upper inclusive, as Ray)."""
    return _checked(
        "qlograndint",
        lambda: Integer(
            lower, upper, log=True, q=q, base=base, upper_inclusive=True, fn="qlograndint"
        ),
    )


def choice(categories: Any) -> Categorical:
    """One of ``categories``, uniformly. Only JSON-able categories survive JSON exactly;
    others (classes, objects) are stored as their repr and load as OpaqueValue."""
    return _checked("choice", lambda: Categorical(categories))


def grid_search(values: Any) -> Grid:
    """A grid axis: every value is tried (Ray's ``{"grid_search": [...]}`` is also accepted)."""
    return _checked("grid_search", lambda: Grid(values))


def sample_from(func: Callable[..., Any]) -> Function:
    """A value computed by ``func(spec)`` from the config resolved so far."""
    return _checked("sample_from", lambda: Function(func))


_FACTORIES: dict[str, Callable[..., Domain]] = {
    "uniform": uniform,
    "quniform": quniform,
    "loguniform": loguniform,
    "qloguniform": qloguniform,
    "randn": randn,
    "qrandn": qrandn,
    "randint": randint,
    "qrandint": qrandint,
    "lograndint": lograndint,
    "qlograndint": qlograndint,
}


def domain_from_json(d: Mapping[str, Any]) -> Domain:
    """Rebuild a Domain from :meth:`Domain.to_json` output."""
    if not isinstance(d, Mapping) or "type" not in d:
        raise TuneValueError(f"domain_from_json(d={_short(d)}): d must be a dict with a 'type'")
    kind = d["type"]
    args = {k: v for k, v in d.items() if k != "type"}
    if kind == "choice":
        return Categorical([decode_value(c) for c in args["categories"]])
    if kind == "grid_search":
        return Grid([decode_value(c) for c in args["values"]])
    if kind == "sample_from":
        return Function.placeholder(d)
    if "upper_inclusive" in args and kind in ("randint", "lograndint", "qrandint", "qlograndint"):
        return Integer(**args, log="log" in kind, fn=kind)
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise TuneValueError(f"domain_from_json(d={_short(d)}): unknown domain type {kind!r}")
    try:
        return factory(**args)
    except TypeError as e:
        raise TuneValueError(f"domain_from_json(d={_short(d)}): bad arguments: {e}") from None


# ------------------------------------------------------------------------ JSON values

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class OpaqueValue:
    """Stand-in for a value that JSON could not hold; keeps its type name and repr."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpaqueValue):
            return NotImplemented
        return (self.type_name, self.text) == (other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))


def encode_value(v: Any) -> Any:
    """A JSON-able form of a config value; markers use the reserved key ``__tunefleet__``.

    Reprs are stripped of memory addresses so the form is stable across processes.
    """
    t = type(v)
    if v is None or t is bool or t is str or t is int:
        return v
    if t is float:
        return v if math.isfinite(v) else {_MARK: "float", "value": repr(v)}
    if t is list:
        return [encode_value(x) for x in v]
    if t is dict:
        if _MARK not in v and all(type(k) is str for k in v):
            return {k: encode_value(x) for k, x in v.items()}
        return {_MARK: "dict", "items": [[encode_value(k), encode_value(x)] for k, x in v.items()]}
    if t is tuple:
        return {_MARK: "tuple", "items": [encode_value(x) for x in v]}
    if isinstance(v, Domain):
        return {_MARK: "domain", "domain": v.to_json()}
    as_python = plain(v)
    if as_python is not v:
        return encode_value(as_python)
    if isinstance(v, OpaqueValue):
        return {_MARK: "repr", "type": v.type_name, "repr": v.text}
    return {
        _MARK: "repr",
        "type": f"{t.__module__}.{t.__qualname__}",
        "repr": _ADDRESS.sub("", repr(v)),
    }


def decode_value(v: Any) -> Any:
    """Inverse of :func:`encode_value` (non-JSON values come back as OpaqueValue)."""
    if type(v) is list:
        return [decode_value(x) for x in v]
    if type(v) is not dict:
        return v
    kind = v.get(_MARK)
    if kind is None:
        return {k: decode_value(x) for k, x in v.items()}
    if kind == "float":
        return float(v["value"])
    if kind == "dict":
        return {decode_value(k): decode_value(x) for k, x in v["items"]}
    if kind == "tuple":
        return tuple(decode_value(x) for x in v["items"])
    if kind == "domain":
        return domain_from_json(v["domain"])
    if kind == "repr":
        return OpaqueValue(v["type"], v["repr"])
    raise TuneValueError(f"decode_value: unknown marker {kind!r}")
