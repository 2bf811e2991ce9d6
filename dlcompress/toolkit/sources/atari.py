"""Stacked game frames for the DQN and A3C networks (synthetic: no Atari emulator or ROMs offline).

A small simulator renders Pong- and Breakout-like screens at 84x84 in grey levels, the way the DQN papers
preprocess Atari frames: flat backgrounds, walls, paddles, bricks and a ball that moves and bounces, paddles
that follow it with lag. Each item is 4 consecutive frames (the stack the networks take), values in [0, 1].
Calibration and evaluation clips come from different seeds. There are no labels (fidelity only).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import FeedSource, FeedSplits, feed_dataset, input_of

SIZE = 84
TRAIN_STACKS, TEST_STACKS = 64, 32


def _rect(frame: np.ndarray, top: float, left: float, h: int, w: int, value: float) -> None:
    t, l = int(round(top)), int(round(left))
    frame[max(0, t) : max(0, t + h), max(0, l) : max(0, l + w)] = value


class Ball:
    """A ball moving at constant velocity, bouncing inside [lo, hi] on both axes."""

    def __init__(self, rng: np.random.Generator, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.y, self.x = rng.uniform(lo + 10, hi - 10, size=2)
        self.vy, self.vx = rng.uniform(1.0, 2.5, size=2) * rng.choice([-1, 1], size=2)

    def step(self) -> None:
        self.y, self.x = self.y + self.vy, self.x + self.vx
        if not self.lo <= self.y <= self.hi - 2:
            self.vy = -self.vy
            self.y = float(np.clip(self.y, self.lo, self.hi - 2))
        if not self.lo <= self.x <= self.hi - 2:
            self.vx = -self.vx
            self.x = float(np.clip(self.x, self.lo, self.hi - 2))


def pong_frames(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` consecutive Pong-like frames: walls, two paddles tracking the ball, a ball, a centre line."""
    bg, fg = rng.uniform(0.1, 0.45), rng.uniform(0.7, 1.0)
    ball = Ball(rng, 8.0, 76.0)
    left, right = rng.uniform(20, 60, size=2)
    frames = np.full((count, SIZE, SIZE), bg, dtype=np.float32)
    for f in frames:
        ball.step()
        left += np.clip(ball.y - left - 4, -1.5, 1.5)
        right += np.clip(ball.y - right - 4, -2.0, 2.0)
        _rect(f, 4, 0, 3, SIZE, fg * 0.8)
        _rect(f, SIZE - 7, 0, 3, SIZE, fg * 0.8)
        f[8:76:4, SIZE // 2] = fg * 0.5
        _rect(f, left, 6, 8, 2, fg)
        _rect(f, right, SIZE - 8, 8, 2, fg * 0.9)
        _rect(f, ball.y, ball.x, 2, 2, 1.0)
    return frames


def breakout_frames(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` consecutive Breakout-like frames: rows of bricks of different grey levels (some knocked out),
    side walls, a paddle following the ball."""
    bg = rng.uniform(0.0, 0.2)
    bricks = rng.random((6, 14)) > rng.uniform(0.05, 0.5)
    shades = np.linspace(0.9, 0.4, 6)
    ball = Ball(rng, 30.0, 78.0)
    paddle = rng.uniform(10, 60)
    frames = np.full((count, SIZE, SIZE), bg, dtype=np.float32)
    for f in frames:
        ball.step()
        paddle += np.clip(ball.x - paddle - 6, -2.0, 2.0)
        _rect(f, 0, 0, 4, SIZE, 0.6)
        _rect(f, 0, 0, SIZE, 2, 0.6)
        _rect(f, 0, SIZE - 2, SIZE, 2, 0.6)
        for row in range(6):
            for col in range(14):
                if bricks[row, col]:
                    _rect(f, 12 + 3 * row, 2 + 5.7 * col, 3, 5, shades[row])
        _rect(f, 78, paddle, 2, 12, 0.8)
        _rect(f, ball.y, ball.x, 2, 2, 1.0)
    return frames


GAMES: tuple[Callable[[np.random.Generator, int], np.ndarray], ...] = (pong_frames, breakout_frames)


@lru_cache(maxsize=2)
def frame_stacks(split: str, stack: int) -> np.ndarray:
    """[items, stack, 84, 84] float32: each item is ``stack`` consecutive frames of one clip."""
    count = TRAIN_STACKS if split == "train" else TEST_STACKS
    rng = np.random.default_rng(0 if split == "train" else 1)
    items = []
    for i in range(count):
        clip = GAMES[i % len(GAMES)](rng, stack + int(rng.integers(0, 30)))
        items.append(clip[-stack:])
    return np.clip(np.stack(items), 0.0, 1.0).astype(np.float32)


@feed_dataset("atari-frames")
def load_atari_frames(spec) -> FeedSplits:  # noqa: ANN001
    """Stacks of 84x84 frames from a Pong/Breakout-like simulator (synthetic; no labels)."""
    t = input_of(spec, "frames", "atari-frames")
    if t.shape[2:] != (SIZE, SIZE) or not isinstance(t.shape[1], int):
        raise DatasetError(f"atari-frames makes [batch, stack, 84, 84] frames; {spec.name} takes {t.describe()}")
    stack = int(t.shape[1])
    return FeedSplits(
        "atari-frames", FeedSource({"frames": frame_stacks("train", stack)}),
        FeedSource({"frames": frame_stacks("test", stack)}),
        "synthetic: frames of a small Pong/Breakout-like simulator (no Atari emulator or ROMs offline)",
        synthetic=True,
    )
