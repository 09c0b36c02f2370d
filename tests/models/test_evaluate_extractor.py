import json
import pickle

import pytest
import torch

from wenmai import cli
from wenmai.models.checkpoint import save_pretrained
from wenmai.models.evaluate_extractor import read_triples, score_triples
from wenmai.models.extractor import ExtractorConfig, TripleExtractor
from wenmai.models.handlers import ExtractorHandler
from wenmai.models.vocab import Vocab
from wenmai.text import load_jieba, segment

# our own fixture lines: a LIC2019 record, a DuIE 2.0 record ("@value" dicts), one without triples
LIC = {"text": "《围城》的作者是钱锺书", "spo_list": [
    {"subject": "围城", "predicate": "作者", "object": "钱锺书", "subject_type": "图书作品",
     "object_type": "人物"}]}
DUIE = {"text": "李白出生于碎叶城", "spo_list": [
    {"predicate": "出生地", "subject": "李白", "subject_type": "人物",
     "object": {"@value": "碎叶城"}, "object_type": {"@value": "地点"}}]}
EMPTY = {"text": "今天天气很好", "spo_list": []}


@pytest.fixture
def triples_file(tmp_path):
    path = tmp_path / "triples.json"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (LIC, DUIE, EMPTY)) + "\n",
                    encoding="utf-8")
    return path


def test_read_triples_accepts_lic2019_and_duie_formats(triples_file):
    assert read_triples(triples_file) == [
        ("《围城》的作者是钱锺书", [("围城", "作者", "钱锺书")]),
        ("李白出生于碎叶城", [("李白", "出生地", "碎叶城")]),
        ("今天天气很好", [])]


def test_read_triples_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(LIC, ensure_ascii=False) + "\n{\"spo_list\": []}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json:2"):
        read_triples(path)


def test_score_triples_by_hand():
    gold = [[("a", "p", "b")], [("c", "q", "d"), ("c", "q", "e")], []]
    pred = [[("a", "p", "b"), ("a", "p", "x")], [("c", "q", "d")], [("f", "r", "g")]]
    # correct 2, predicted 4, gold 3
    got = score_triples(pred, gold)
    assert got["precision"] == pytest.approx(0.5)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert score_triples([[]], [[]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    # duplicates count once: the score is over sets
    assert score_triples([[("a", "p", "b")] * 2], [[("a", "p", "b")]])["precision"] == 1.0


@pytest.fixture(scope="module")
def extractor_models(tmp_path_factory):
    """A tiny random extractor saved as `<dir>/extractor/`, with a low threshold so it finds
    (random) triples and the offsets get exercised."""
    jieba = load_jieba()
    texts = [LIC["text"], DUIE["text"], EMPTY["text"]]
    vocab = Vocab.build((t, list(segment(jieba, t))) for t in texts)
    torch.manual_seed(0)
    config = ExtractorConfig(char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words,
                             predicates=("作者", "出生地"), d=16, word_dim=4, dilations=(1, 2),
                             n_heads=2, max_len=64, max_distance=8, dropout=0.0)
    root = tmp_path_factory.mktemp("models")
    model = TripleExtractor(config)
    with torch.no_grad():  # pointers near 0.5 everywhere: many spans for the offset checks
        model.subject_head.out.bias.zero_()
        model.object_head.out.bias.zero_()
    save_pretrained(model, root / "extractor", vocab=vocab, card="tiny random extractor for tests",
                    extra={"threshold": 0.5, "max_len": 64})
    return root


def test_cli_eval_extractor_prints_the_contract_json(extractor_models, triples_file, capsys):
    assert cli.main(["eval", "extractor", "--data", str(triples_file),
                     "--models", str(extractor_models)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert set(result) == {"precision", "recall", "f1", "n"}
    assert result["n"] == 3
    assert all(0.0 <= result[k] <= 1.0 for k in ("precision", "recall", "f1"))


def test_cli_eval_extractor_missing_file_is_a_usage_error(extractor_models, tmp_path, capsys):
    assert cli.main(["eval", "extractor", "--data", str(tmp_path / "none.json"),
                     "--models", str(extractor_models)]) == 2
    assert "none.json" in capsys.readouterr().err


def test_handler_pickles_and_returns_offsets_into_each_sentence(extractor_models):
    handler = ExtractorHandler(extractor_models / "extractor", threshold=0.4, device="cpu")
    handler = pickle.loads(pickle.dumps(handler))  # stores plain values only
    model = handler.load_model()
    jieba = load_jieba()
    batch = [(t, list(segment(jieba, t))) for t in (LIC["text"], DUIE["text"], "好")]
    results = list(handler.run_inference(batch, model))
    assert [r.example for r in results] == batch
    n_triples = 0
    for r in results:
        text = r.example[0]
        for t in r.inference:
            n_triples += 1
            assert set(t) == {"subject", "predicate", "object", "subject_start", "subject_end",
                              "object_start", "object_end", "score"}
            assert text[t["subject_start"]:t["subject_end"]] == t["subject"] != ""
            assert text[t["object_start"]:t["object_end"]] == t["object"] != ""
            assert t["predicate"] in ("作者", "出生地")
            assert 0.0 <= t["score"] <= 1.0
    assert n_triples > 0  # the offsets above were really checked


def test_handler_batches_by_token_budget(extractor_models):
    handler = ExtractorHandler(extractor_models / "extractor", max_len=10, max_batch_tokens=100)
    kwargs = handler.batch_elements_kwargs()
    assert kwargs["max_batch_size"] == 100
    assert kwargs["element_size_fn"](("长" * 50, ["长" * 50])) == 11  # truncated length + 1


def test_score_by_predicate_by_hand():
    from wenmai.models.evaluate_extractor import score_by_predicate

    predicted = [[("围城", "作者", "钱锺书"), ("围城", "导演", "钱锺书")], [("李白", "出生地", "长安")]]
    gold = [[("围城", "作者", "钱锺书")], [("李白", "出生地", "碎叶城")]]
    by = score_by_predicate(predicted, gold)
    assert by["作者"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert by["导演"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert by["出生地"]["support"] == 1 and by["出生地"]["f1"] == 0.0
