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


def train_bpe(lines: Iterable[str], vocab_size: int, alphabet: Iterable[str] = ()) -> Tokenizer:
    """A BPE tokenizer with at most ``vocab_size`` pieces (alphabet included), trained on ``lines``.

    ``alphabet``: characters that must be pieces even if the training text never has them. BPE has no unknown
    token, so a character it never saw is silently dropped ("Ecuador" -> "cuador" when a capital E occurs only
    in test queries); the world passes every character of every query word. Fewer pieces than asked are learnt
    when every word is already one piece: the vocabulary then equals the word-level one, the sweep's upper end.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, initial_alphabet=sorted(set(alphabet)))
    tok.train_from_iterator(lines, trainer)
    return tok


def split_words(tok: Tokenizer, words: list[str]) -> list[list[str]]:
    """Each word's pieces, in order; an error if a word's pieces do not spell it (a dropped character). Spaces
    inside a multi-word name ("United Arab Emirates") separate pre-tokens and are not pieces."""
    pieces = [enc.tokens for enc in tok.encode_batch(words, add_special_tokens=False)]
    lost = [(w, "".join(ps)) for w, ps in zip(words, pieces) if "".join(ps) != "".join(w.split())]
    if lost:
        raise ValueError(f"the BPE pieces of {len(lost)} words do not spell them, e.g. {lost[0][0]!r} -> "
                         f"{lost[0][1]!r}: a character is missing from the tokenizer's alphabet")
    return pieces
