"""bertclf's WordPiece learner gives tensorflow_text's vocabulary, token for token."""

from __future__ import annotations

import random

import pytest

from bertclf.encoders.tiny import RESERVED_TOKENS
from bertclf.encoders.wordpiece import learn_vocabulary


def _word_counts(alphabet: str, words: int, seed: int) -> dict[str, int]:
    """Zipf-like counts of random words built from a few hundred stems and endings."""
    rng = random.Random(seed)
    stems = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(300)]
    endings = ["", "", ""] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3))) for _ in range(40)]
    counts: dict[str, int] = {}
    for rank in range(1, words + 1):
        word = rng.choice(stems) + rng.choice(endings) + (rng.choice(endings) if rng.random() < 0.3 else "")
        counts[word] = counts.get(word, 0) + max(1, int(20_000 / rank))
    counts["#"] = 50          # punctuation is a word of its own after BERT's basic tokenizer
    counts["x" * 60] = 500    # longer than the learner's 50-character limit: left out
    counts["[UNK]"] = 40      # a reserved token is never learned as a word
    return counts


@pytest.mark.parametrize("alphabet", ["abcdefghijklmnopqrstuvwxyz", "가나다라마바사아자차카타파하는은이가를에서도"],
                         ids=["latin", "hangul"])
@pytest.mark.parametrize("vocab_size", [120, 600])
def test_the_vocabulary_is_tensorflow_texts(alphabet, vocab_size):
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as library

    counts = _word_counts(alphabet, 1_000, seed=len(alphabet) + vocab_size)
    expected = library.learn(counts, vocab_size, RESERVED_TOKENS)
    learned = learn_vocabulary(counts, vocab_size, RESERVED_TOKENS)
    assert learned == expected
    assert learned[:len(RESERVED_TOKENS)] == RESERVED_TOKENS and len(learned) <= vocab_size
    assert any(token.startswith("##") for token in learned)  # pieces inside words were learned too
