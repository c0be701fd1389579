"""Subword tokenisation of the query words with a byte-pair-encoding model (Hugging Face ``tokenizers``).

Our choice (science.md leaves it open): BPE applies to the *query* (entity, relation and function words); the
answer stays one whole-word value token, so accuracy remains a single argmax and every tokenizer is scored on
the same answer vocabulary. The BPE model is trained on the world's own training text, one pre-token per word
(merges never cross word boundaries), so two languages share subwords only where their strings share letters:
in the same script, never across scripts. The trainer is deterministic (the same corpus gives the same merges
in every process; a unit test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, trainers


def train_bpe(lines: Iterable[str], vocab_size: int) -> Tokenizer:
    """A BPE tokenizer with at most ``vocab_size`` pieces (alphabet included), trained on ``lines``.

    Fewer pieces than asked are learnt when every word is already one piece: the vocabulary then equals the
    word-level one, which is the upper end of the sweep.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False))
    return tok


def split_words(tok: Tokenizer, words: list[str]) -> list[list[str]]:
    """Each word's pieces, in order."""
    return [enc.tokens for enc in tok.encode_batch(words, add_special_tokens=False)]
