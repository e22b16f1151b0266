#!/usr/bin/env python3
"""The constants NumericsTests pins SeededGenerator to, from an independent transcription.

xoshiro256** and SplitMix64 as in the published reference code (Blackman and Vigna,
prng.di.unimi.it: xoshiro256starstar.c, splitmix64.c), seeded as Sources/Numerics/Random.swift
seeds them. The transcription is first checked against the outputs other implementations
publish; then it prints the streams `generatorGoldenOutputs` expects.
Usage: python3 scripts/xoshiro_reference.py
"""
import math

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro256StarStar:
    def __init__(self, state):
        self.s = list(state)
        self.spare = None

    @classmethod
    def seeded(cls, seed):
        """`SeededGenerator(seed:)`: four SplitMix64 outputs fill the state."""
        splitmix = SplitMix64(seed)
        return cls([splitmix.next() for _ in range(4)])

    @classmethod
    def stream(cls, seed, stream):
        """`SeededGenerator(seed:stream:)`: Swift's `seed ^ (stream &* C) &+ stream`, where ^ and &+
        share a precedence and group left to right."""
        return cls.seeded(((seed ^ ((stream * 0xD1B54A32D192ED03) & MASK)) + stream) & MASK)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0**-53

    def int_below(self, bound):
        """Swift's `next(upperBound:)` (Lemire's nearly divisionless multiply-and-reject)."""
        m = self.next() * bound
        if (m & MASK) < bound:
            threshold = ((1 << 64) - bound) % bound
            while (m & MASK) < threshold:
                m = self.next() * bound
        return m >> 64

    def normal(self):
        """Marsaglia's polar method, keeping the pair's second value."""
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        while True:
            u = 2 * self.uniform() - 1
            v = 2 * self.uniform() - 1
            s = u * u + v * v
            if 0 < s < 1:
                factor = math.sqrt(-2 * math.log(s) / s)
                self.spare = v * factor
                return u * factor


def check_published():
    splitmix = SplitMix64(0)
    assert [splitmix.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    splitmix = SplitMix64(1234567)
    assert [splitmix.next() for _ in range(5)] == [
        6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821]
    generator = Xoshiro256StarStar([1, 2, 3, 4])
    assert [generator.next() for _ in range(10)] == [
        11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
        16172922978634559625, 8476171486693032832, 10595114339597558777, 2904607092377533576]
    generator = Xoshiro256StarStar.seeded(42)
    assert [generator.next() for _ in range(3)] == [1546998764402558742, 6990951692964543102, 12544586762248559009]


def swift_hex(value):
    digits = f"{value:016X}"
    return "0x" + "_".join(digits[i:i + 4] for i in range(0, 16, 4))


def main():
    check_published()
    print("the transcription reproduces the published SplitMix64 and xoshiro256** outputs")
    for seed in [0, 42, MASK]:
        generator = Xoshiro256StarStar.seeded(seed)
        print(f"seed {seed}:", ", ".join(swift_hex(generator.next()) for _ in range(5)))
    for seed, stream in [(42, 1), (42, 7), (2, 1 << 40)]:
        generator = Xoshiro256StarStar.stream(seed, stream)
        print(f"seed {seed}, stream {stream}:", ", ".join(swift_hex(generator.next()) for _ in range(4)))
    generator = Xoshiro256StarStar.seeded(7)
    print("seed 7, nextUniform:", ", ".join(repr(generator.uniform()) for _ in range(4)))
    generator = Xoshiro256StarStar.seeded(11)
    bounds = [1, 2, 3, 10, 1000, 1 << 40, (1 << 63) - 1, 6]
    print(f"seed 11, nextInt(below: {bounds}):", [generator.int_below(bound) for bound in bounds])
    generator = Xoshiro256StarStar.seeded(5)
    print("seed 5, nextNormal:", ", ".join(repr(generator.normal()) for _ in range(6)))


if __name__ == "__main__":
    main()
