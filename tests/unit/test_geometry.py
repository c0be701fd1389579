import numpy as np
import pytest
import torch

from crosslingual.analysis.geometry import (
    cross_script_share,
    knn,
    knn_overlap,
    max_canonical_cosine,
    num_neighbor_category,
    pool_words,
    random_canonical_cosine,
    separability,
    token_category,
    translation_precision,
    translation_sets,
    world_translations,
)


@pytest.mark.parametrize("token, strip, label", [
    ("hello", True, "LATIN"), ("привет", True, "CYRILLIC"), ("日本", True, "CJK"), ("123", True, "N"),
    (",", True, "P"), ("\u2581a", False, "S"), ("\u2581a", True, "LATIN"), ("\u2581the", False, "LATIN"),
    ("ab12", True, "LATIN"), ("12ab", True, "N"), ("\u2581", True, "S"), ("", True, "Z"),
])
def test_token_category_follows_the_papers_rule(token, strip, label):
    # majority of the characters' labels; ties go to the label seen first; the word mark is optional
    assert token_category(token, strip_word_marks=strip) == label


def test_separability_is_perfect_for_separable_categories_and_chance_for_random_ones():
    rng = np.random.default_rng(0)
    n = 120
    a = rng.normal(size=(n, 8)) + np.r_[6.0, np.zeros(7)]
    b = rng.normal(size=(n, 8)) - np.r_[6.0, np.zeros(7)]
    sep = separability(np.vstack([a, b]), ["A"] * n + ["B"] * n, min_count=50)
    assert sep.accuracy.tolist() == [1.0, 1.0]
    noise = separability(rng.normal(size=(2 * n, 8)), ["A"] * n + ["B"] * n, min_count=50)
    assert abs(noise.accuracy.mean() - 0.5) < 0.1
    assert separability(np.vstack([a, b]), ["A"] * n + ["B"] * n, min_count=500).empty  # too few tokens
    # an unbalanced pair: the larger side is undersampled to the smaller one, both categories are tested
    uneven = separability(np.vstack([a, b[:60]]), ["A"] * n + ["B"] * 60, min_count=50)
    assert uneven["balanced set"].tolist() == [120, 120] and uneven.accuracy.tolist() == [1.0, 1.0]


def test_knn_matches_brute_force_in_any_block_size():
    x = torch.randn(57, 6, generator=torch.Generator().manual_seed(0))
    xn = x / x.norm(dim=1, keepdim=True)
    brute = torch.argsort(xn @ xn.T, dim=1, descending=True)[:, :6].numpy()
    for memory in (10**9, 4 * 57 * 2 * 3):  # one block; blocks of 3 queries
        np.testing.assert_array_equal(knn(x, 5, memory_bytes=memory), brute)
    np.testing.assert_array_equal(knn(x, 5, queries=np.array([3, 9])), brute[[3, 9]])
    assert (knn(x, 5)[:, 0] == np.arange(57)).all()  # rank 0 is the token itself


def test_neighbour_category_and_translation_precision_hand_computed():
    neighbours = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0], [3, 2, 1]])
    labels = np.array(["LATIN", "LATIN", "GREEK", "GREEK"])
    assert num_neighbor_category(neighbours, labels).tolist() == [2, 2, 2, 2]
    assert num_neighbor_category(np.array([[2, 3], [0, 1], [0, 3]]), labels).tolist() == [1, 1, 2]
    assert cross_script_share(neighbours, labels).tolist() == [0.5, 0.5, 0.5, 0.5]
    assert cross_script_share(np.array([[0, 1, 2, 3]]), labels).tolist() == pytest.approx([2 / 3])
    translations = {0: {0, 2}, 2: {0, 2}, 1: {1, 3}, 3: {1, 3}}
    # k = 1: 0's nearest is 1 (no), 1's is 0 (no), 2's is 3 (no), 3's is 2 (no); k = 2: 0 (2 yes), 1 (3 yes),
    # 2 (0 yes), 3 (1 yes)
    q = np.arange(4)
    assert translation_precision(neighbours, q, translations, k=1) == 0.0
    assert translation_precision(neighbours, q, translations, k=2) == 1.0
    assert np.isnan(translation_precision(neighbours, q, {0: {0}}, k=2))  # only self-translations: undefined


def test_knn_overlap_and_canonical_angles():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(200, 8, generator=g)
    rotation = torch.linalg.qr(torch.randn(8, 8, generator=g))[0]
    assert knn_overlap(a, a @ rotation, 10) == pytest.approx(1.0)  # a rotation keeps all cosines
    assert max_canonical_cosine(a, a @ rotation) == pytest.approx(1.0)
    # brute force: the largest cosine between a unit vector of one column space and its projection on the other
    b = torch.randn(200, 8, generator=g)
    qa, qb = torch.linalg.qr(a.double())[0], torch.linalg.qr(b.double())[0]
    u = qa @ torch.randn(8, 20000, generator=g).double()
    brute = float(((qb.T @ u).norm(dim=0) / u.norm(dim=0)).max())
    assert brute <= max_canonical_cosine(a, b) + 1e-12 and max_canonical_cosine(a, b) - brute < 0.02
    assert 0 < random_canonical_cosine(200, 8, 8) < 1
    with pytest.raises(ValueError, match="rows >> columns"):
        max_canonical_cosine(torch.randn(20, 8), torch.randn(20, 8))


def test_world_translations_pair_the_same_name_across_languages():
    from crosslingual.core.config import make_config
    from crosslingual.core.world import World

    w = World(make_config("smoke", entity_overlap=0.0).world)
    t = world_translations(w)
    e0, e1 = w.ent_ids[0, 3], w.ent_ids[1, 3]
    assert t[e0] == t[e1] == {e0, e1}
    with pytest.raises(ValueError, match="word-level"):
        world_translations(World(make_config("smoke", tokenizer="bpe", bpe_vocab_size=30).world))


def test_hugging_face_directory_gives_embeddings_and_tokens(tmp_path):
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    vocab = {"[UNK]": 0, "hello": 1, "привет": 2, "日本": 3}
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="[UNK]")),
                                               unk_token="[UNK]")
    model = transformers.GPT2Model(transformers.GPT2Config(vocab_size=8, n_embd=16, n_layer=1, n_head=2,
                                                           n_positions=8))
    tok.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    from crosslingual.analysis.geometry import embeddings_of_hf_model

    emb, tokens = embeddings_of_hf_model(tmp_path)
    assert emb.shape == (4, 16)  # the padded rows past the tokenizer's vocabulary are dropped
    assert tokens == ["[UNK]", "hello", "привет", "日本"]
    assert [token_category(t) for t in tokens[1:]] == ["LATIN", "CYRILLIC", "CJK"]


def test_byte_level_tokens_are_labelled_by_their_decoded_text(tmp_path):
    """A GPT-2-style byte-level BPE stores "привет" as byte strings like "Ð¿Ñ": read raw, nearly every
    non-Latin token would be labelled LATIN. Decoded first, the Cyrillic and CJK pieces keep their scripts."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from crosslingual.analysis.geometry import embeddings_of_hf_model, is_byte_level

    text = ["привет мир как дела", "hello world how are you", "日本語 東京 大阪", "γειά σου κόσμε"] * 50
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok)
    assert is_byte_level(fast)
    n = len(fast)
    transformers.GPT2Model(transformers.GPT2Config(vocab_size=n, n_embd=8, n_layer=1, n_head=2, n_positions=8)
                           ).save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)
    _, tokens = embeddings_of_hf_model(tmp_path)
    raw = fast.convert_ids_to_tokens(list(range(n)))
    multi = [i for i, t in enumerate(tokens)
             if len(t.strip()) >= 2 and "\ufffd" not in t and any(ord(c) > 0x2FF for c in t)]
    assert len(multi) >= 10  # whole non-Latin characters, merged by the training above
    latin = sum(token_category(raw[i]) == "LATIN" for i in multi) / len(multi)
    assert latin >= 0.9  # the fault: raw byte strings read as Latin
    assert {token_category(tokens[i]) for i in multi} <= {"CYRILLIC", "CJK", "GREEK"}
    piece = fast.convert_ids_to_tokens(fast.encode(" мир")[0])
    assert token_category(fast.convert_tokens_to_string([piece])) == "CYRILLIC"


def test_translation_sets_join_every_row_an_id_is_in():
    assert translation_sets([np.array([[0, 1], [2, 3]])]) == {0: {0, 1}, 1: {0, 1}, 2: {2, 3}, 3: {2, 3}}
    assert translation_sets([np.array([[0, 1]]), np.array([[1, 2]])])[1] == {0, 1, 2}  # a shared name


def test_pool_words_averages_a_words_pieces_and_refuses_an_empty_word():
    emb = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    pooled = pool_words(emb, np.array([[0, 1, -1], [2, -1, -1], [0, 1, 2]]))
    torch.testing.assert_close(pooled, torch.tensor([[0.5, 1.0], [4.0, 4.0], [5 / 3, 2.0]]))
    torch.testing.assert_close(pool_words(emb, np.array([[2], [0]])), emb[[2, 0]])  # word level: the row itself
    with pytest.raises(ValueError, match="at least one token"):
        pool_words(emb, np.array([[-1, -1]]))
