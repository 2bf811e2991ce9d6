"""Go positions for the AlphaGo networks, from games played by a rule-based random player (synthetic by rules).

No game records ship offline, so games are played here: each move is uniform among the legal moves that do
not fill one's own eye (captures, suicide and simple ko follow the rules of Go), which gives real Go positions
with groups, captures and ataris, though not strong play. Positions are sampled at moves 10-250 of games
with different seeds for calibration and evaluation; there are no labels (fidelity only).

Feature planes, by the model's plane count:

- 48 (AlphaGo policy, Silver et al. 2016, Extended Data Table 2): stone colour (3), ones, turns since (8),
  liberties (8), capture size (8), self-atari size (8), liberties after move (8), ladder capture, ladder
  escape, sensibleness, zeros. The two ladder planes stay zero (reading ladders needs a search).
- 49 (AlphaGo value): the 48 planes plus "the player to move is black".
- 17 (AlphaGo Zero): the player's and the opponent's stones in the last 8 positions, and the colour to play.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import FeedSource, FeedSplits, feed_dataset, input_of

EMPTY, BLACK, WHITE = 0, 1, -1
TRAIN_POSITIONS, TEST_POSITIONS = 64, 32
POSITIONS_PER_GAME = 8


class GoBoard:
    """A Go board with captures, suicide and simple-ko rules, and the history the feature planes need."""

    def __init__(self, size: int = 19) -> None:
        self.size = size
        self.stones = np.zeros((size, size), dtype=np.int8)
        self.played_at = np.full((size, size), -1, dtype=np.int32)  # move number a stone was placed
        self.to_play = BLACK
        self.ko: tuple[int, int] | None = None
        self.moves = 0
        self.history: list[np.ndarray] = [self.stones.copy()]

    def neighbours(self, r: int, c: int) -> list[tuple[int, int]]:
        n = self.size
        return [(a, b) for a, b in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)) if 0 <= a < n and 0 <= b < n]

    def groups(self) -> tuple[np.ndarray, dict[int, list[tuple[int, int]]], dict[int, set[tuple[int, int]]]]:
        """Group label per point (0 = empty), stones per group, liberty points per group."""
        from scipy.ndimage import label

        labels = np.zeros(self.stones.shape, dtype=np.int32)
        black, nb = label(self.stones == BLACK)
        white, _ = label(self.stones == WHITE)
        labels[black > 0] = black[black > 0]
        labels[white > 0] = white[white > 0] + nb
        stones: dict[int, list[tuple[int, int]]] = {}
        libs: dict[int, set[tuple[int, int]]] = {}
        for r, c in zip(*np.nonzero(labels)):
            g = int(labels[r, c])
            stones.setdefault(g, []).append((int(r), int(c)))
            libs.setdefault(g, set()).update(p for p in self.neighbours(r, c) if self.stones[p] == EMPTY)
        return labels, stones, libs

    def analyse(self, r: int, c: int, labels: np.ndarray, stones: dict, libs: dict) -> dict[str, object]:
        """What playing at (r, c) for the player to move would do: legality, captures, liberties after."""
        me = self.to_play
        own = {int(labels[p]) for p in self.neighbours(r, c) if self.stones[p] == me}
        opp = {int(labels[p]) for p in self.neighbours(r, c) if self.stones[p] == -me}
        captured = [g for g in opp if libs[g] == {(r, c)}]
        merged = {(r, c), *(s for g in own for s in stones[g])}
        after = {p for p in self.neighbours(r, c) if self.stones[p] == EMPTY}
        for g in own:
            after |= libs[g]
        after.discard((r, c))
        for g in captured:
            after.update(s for s in stones[g] if any(q in merged for q in self.neighbours(*s)))
        legal = self.stones[r, c] == EMPTY and (r, c) != self.ko and len(after) > 0
        eye = all(self.stones[p] == me for p in self.neighbours(r, c))
        return {"legal": legal, "sensible": legal and not eye, "captured": captured,
                "capture_size": sum(len(stones[g]) for g in captured), "liberties_after": len(after),
                "group_size": len(merged)}

    def play(self, r: int, c: int, info: dict[str, object], stones: dict) -> None:  # noqa: ANN001
        me = self.to_play
        self.stones[r, c] = me
        self.played_at[r, c] = self.moves
        captured = info["captured"]
        for g in captured:  # type: ignore[attr-defined]
            for s in stones[g]:
                self.stones[s] = EMPTY
                self.played_at[s] = -1
        single = info["capture_size"] == 1 and info["group_size"] == 1 and info["liberties_after"] == 1
        self.ko = stones[captured[0]][0] if single else None  # type: ignore[index]
        self._advance()

    def pass_move(self) -> None:
        self.ko = None
        self._advance()

    def _advance(self) -> None:
        self.to_play = -self.to_play
        self.moves += 1
        self.history.append(self.stones.copy())


def random_game(seed: int, moves: int, size: int = 19) -> list[GoBoard]:
    """Play ``moves`` moves of uniform random sensible play; return snapshots at POSITIONS_PER_GAME points."""
    import copy

    rng = np.random.default_rng(seed)
    board = GoBoard(size)
    stops = set(np.sort(rng.choice(np.arange(10, moves), size=POSITIONS_PER_GAME, replace=False)).tolist())
    snapshots = []
    for _ in range(moves):
        if board.moves in stops:
            snapshots.append(copy.deepcopy(board))
        labels, stones, libs = board.groups()
        empties = list(zip(*np.nonzero(board.stones == EMPTY)))
        for i in rng.permutation(len(empties)):
            r, c = int(empties[i][0]), int(empties[i][1])
            info = board.analyse(r, c, labels, stones, libs)
            if info["sensible"]:
                board.play(r, c, info, stones)
                break
        else:
            board.pass_move()
    return snapshots


def _one_hot_planes(values: np.ndarray, lo: int, count: int, mask: np.ndarray) -> np.ndarray:
    """``count`` planes: plane k is 1 where ``mask`` and ``min(value, lo + count - 1) == lo + k``."""
    v = np.clip(values, lo, lo + count - 1) - lo
    return np.stack([(v == k) & mask for k in range(count)]).astype(np.float32)


def alphago_planes(board: GoBoard) -> np.ndarray:
    """The 48 feature planes of the AlphaGo policy network for the player to move."""
    me = board.to_play
    labels, stones, libs = board.groups()
    occupied = board.stones != EMPTY
    n = board.size
    group_libs = np.zeros((n, n), dtype=np.int32)
    for g, pts in stones.items():
        for p in pts:
            group_libs[p] = len(libs[g])
    turns = np.where(occupied, board.moves - board.played_at, 0)
    legal = np.zeros((n, n), dtype=bool)
    sensible = np.zeros((n, n), dtype=bool)
    capture = np.zeros((n, n), dtype=np.int32)
    self_atari = np.zeros((n, n), dtype=np.int32)
    libs_after = np.zeros((n, n), dtype=np.int32)
    for r, c in zip(*np.nonzero(~occupied)):
        info = board.analyse(int(r), int(c), labels, stones, libs)
        legal[r, c], sensible[r, c] = bool(info["legal"]), bool(info["sensible"])
        capture[r, c] = int(info["capture_size"])  # type: ignore[arg-type]
        libs_after[r, c] = int(info["liberties_after"])  # type: ignore[arg-type]
        self_atari[r, c] = int(info["group_size"]) if info["liberties_after"] == 1 else 0  # type: ignore[arg-type]
    planes = [
        (board.stones == me)[None], (board.stones == -me)[None], (~occupied)[None], np.ones((1, n, n)),
        _one_hot_planes(turns, 1, 8, occupied),
        _one_hot_planes(group_libs, 1, 8, occupied),
        _one_hot_planes(capture, 0, 8, legal),
        _one_hot_planes(self_atari, 1, 8, legal & (self_atari > 0)),
        _one_hot_planes(libs_after, 1, 8, legal),
        np.zeros((2, n, n)),  # ladder capture / escape: not computed (needs a ladder search)
        sensible[None], np.zeros((1, n, n)),
    ]
    return np.concatenate([p.astype(np.float32) for p in planes])


def value_planes(board: GoBoard) -> np.ndarray:
    """The value network's 49 planes: the 48 policy planes and 'the player to move is black'."""
    colour = np.full((1, board.size, board.size), float(board.to_play == BLACK), dtype=np.float32)
    return np.concatenate([alphago_planes(board), colour])


def zero_planes(board: GoBoard) -> np.ndarray:
    """AlphaGo Zero's 17 planes: [X_t, Y_t, X_t-1, Y_t-1, ..., X_t-7, Y_t-7, C] for the player to move."""
    me = board.to_play
    n = board.size
    past = [board.history[-1 - i] if i < len(board.history) else np.zeros((n, n), np.int8) for i in range(8)]
    planes = [p for h in past for p in ((h == me), (h == -me))]
    planes.append(np.full((n, n), me == BLACK))
    return np.stack(planes).astype(np.float32)


FEATURES: dict[int, Callable[[GoBoard], np.ndarray]] = {48: alphago_planes, 49: value_planes, 17: zero_planes}


@lru_cache(maxsize=4)
def positions(split: str, size: int) -> tuple[GoBoard, ...]:
    count = TRAIN_POSITIONS if split == "train" else TEST_POSITIONS
    base = 0 if split == "train" else 10_000
    out: list[GoBoard] = []
    game = 0
    while len(out) < count:
        rng = np.random.default_rng(base + game)
        out += random_game(base + game, int(rng.integers(60, 251)), size)
        game += 1
    return tuple(out[:count])


@feed_dataset("go-positions")
def load_go_positions(spec) -> FeedSplits:  # noqa: ANN001
    """Feature planes of positions from rule-played random games (synthetic by rules; no labels)."""
    t = input_of(spec, "planes", "go-positions")
    planes, size = t.shape[1], t.shape[2]
    if planes not in FEATURES or not isinstance(size, int) or t.shape[3] != size:
        raise DatasetError(f"go-positions makes 48, 49 or 17 feature planes on a square board; "
                           f"{spec.name} takes {t.describe()}")
    make = FEATURES[planes]

    def source(split: str) -> FeedSource:
        return FeedSource({"planes": np.stack([make(b) for b in positions(split, size)])}).shuffled()

    return FeedSplits(
        "go-positions", source("train"), source("test"),
        "synthetic by rules: positions of games played by a uniform random legal (non-eye-filling) player; "
        "no game records ship offline", synthetic=True,
    )
