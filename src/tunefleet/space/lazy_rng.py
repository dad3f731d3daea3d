"""numpy's ``default_rng(seed)``, whose uniform draws need no numpy.

Why: importing numpy costs 60-120 ms of CPU, the largest part of a small sweep's fixed
cost (issue 11: a 300-trial sweep takes ~0.3 s in all), and random search draws nothing but
uniforms (``Generator.random()``) for every domain but the normal ones. :class:`LazyGenerator`
draws that same stream in Python: the PCG64 generator (O'Neill 2014, "PCG: A Family of
Simple Fast Space-Efficient Statistically Good Algorithms for Random Number Generation",
the XSL-RR output of a 128-bit LCG) seeded by numpy's ``SeedSequence`` (O'Neill's
``seed_seq`` alternative, 2015), so a seeded sweep suggests exactly the configurations it
suggested with a real ``Generator``, and its ``bit_generator.state`` dict is numpy's, so
states saved by either one load into the other. Any other method (``standard_normal``,
``integers``...) turns it into a real ``numpy.random.Generator`` at the current state, and
everything from then on is numpy's. ``tests/space/test_lazy_rng.py`` checks both streams
against numpy, draw for draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np

_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1
_M128 = (1 << 128) - 1
# PCG's default 128-bit LCG multiplier.
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
# SeedSequence's hashing constants (pool of 4 32-bit words).
_POOL = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53


def _words32(n: int) -> list[int]:
    """A non-negative int as little-endian 32-bit words (0 is one word)."""
    words = [n & _M32]
    n >>= 32
    while n:
        words.append(n & _M32)
        n >>= 32
    return words


def _seed_state(seed: int) -> tuple[int, int]:
    """PCG64's (state, inc) for ``numpy.random.default_rng(seed)``."""
    entropy = _words32(seed)
    const = _INIT_A

    def hashmix(value: int) -> int:
        nonlocal const
        value ^= const
        const = (const * _MULT_A) & _M32
        value = (value * const) & _M32
        return value ^ (value >> 16)

    def mix(x: int, y: int) -> int:
        r = (_MIX_L * x - _MIX_R * y) & _M32
        return r ^ (r >> 16)

    pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))
    # generate_state(4, uint64): eight 32-bit words, paired little-endian into four.
    const = _INIT_B
    out = []
    for i in range(8):
        value = pool[i % _POOL] ^ const
        const = (const * _MULT_B) & _M32
        value = (value * const) & _M32
        out.append(value ^ (value >> 16))
    w = [out[2 * i] | (out[2 * i + 1] << 32) for i in range(4)]
    initstate, initseq = (w[0] << 64) | w[1], (w[2] << 64) | w[3]
    inc = ((initseq << 1) | 1) & _M128
    state = (inc) & _M128  # step from 0
    state = (state + initstate) & _M128
    state = (state * _PCG_MULT + inc) & _M128
    return state, inc


class _BitGenerator:
    """The ``bit_generator`` of a :class:`LazyGenerator`: its ``state``, as numpy's PCG64
    writes it, read and written like numpy's."""

    __slots__ = ("_owner",)

    def __init__(self, owner: LazyGenerator) -> None:
        self._owner = owner

    @property
    def state(self) -> dict[str, Any]:
        return self._owner._state_dict()

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self._owner._set_state(value)


class LazyGenerator:
    """``numpy.random.default_rng(seed)`` (or one at a saved PCG64 ``state``) that draws
    ``random()`` in Python until anything else is asked of it."""

    __slots__ = ("_s", "_inc", "_extra", "_np")

    def __init__(self, seed: int | None = None, state: dict[str, Any] | None = None) -> None:
        self._np: Any = None  # the numpy Generator, once there is one
        self._extra: tuple[int, int] = (0, 0)  # PCG64's has_uint32 / uinteger
        if state is not None:
            self._set_state(state)
        else:
            if seed is None:
                import secrets

                seed = secrets.randbits(128)
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be a non-negative int, got {seed!r}")
            self._s, self._inc = _seed_state(seed)

    def random(self) -> float:
        """One uniform float in [0, 1): numpy's ``Generator.random()``, draw for draw."""
        if self._np is not None:
            return float(self._np.random())
        s = (self._s * _PCG_MULT + self._inc) & _M128
        self._s = s
        rot = s >> 122
        x = ((s >> 64) ^ s) & _M64
        x = ((x >> rot) | (x << (64 - rot))) & _M64
        return (x >> 11) * _DOUBLE

    @property
    def bit_generator(self) -> Any:
        return self._np.bit_generator if self._np is not None else _BitGenerator(self)

    def _state_dict(self) -> dict[str, Any]:
        return {
            "bit_generator": "PCG64",
            "state": {"state": self._s, "inc": self._inc},
            "has_uint32": self._extra[0],
            "uinteger": self._extra[1],
        }

    def _set_state(self, value: dict[str, Any]) -> None:
        if value.get("bit_generator") != "PCG64":
            raise ValueError(f"state: a PCG64 state is needed, got {value.get('bit_generator')!r}")
        self._s = int(value["state"]["state"]) & _M128
        self._inc = int(value["state"]["inc"]) & _M128
        self._extra = (int(value.get("has_uint32", 0)), int(value.get("uinteger", 0)))

    def numpy(self) -> Any:
        """The real ``numpy.random.Generator`` at this state; from now on draws are its."""
        if self._np is None:
            import numpy as np

            bits: Any = np.random.PCG64()
            bits.state = self._state_dict()
            self._np = np.random.Generator(bits)
        return self._np

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.numpy(), name)


#: What domains sample from: numpy's Generator or this stand-in for it.
Rng: TypeAlias = "np.random.Generator | LazyGenerator"
