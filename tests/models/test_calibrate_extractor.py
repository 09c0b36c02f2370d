import numpy as np

from wenmai.models.calibrate_extractor import _micro, choose_thresholds, count_table, typed_spans


def test_typed_spans_first_occurrence_and_canonical_classes():
    spo = [{"subject": "围城", "subject_type": "图书作品", "predicate": "作者",
            "object": "钱锺书", "object_type": "人物"},
           {"subject": "钱锺书", "subject_type": "人物", "predicate": "国籍",
            "object": {"@value": "中国"}, "object_type": {"@value": "国家"}},
           {"subject": "不在文中", "subject_type": "人物", "predicate": "国籍",
            "object": "中国", "object_type": "国家"}]
    assert typed_spans("《围城》作者钱锺书，中国作家", spo) == {
        (1, 3): "作品", (6, 9): "人物", (10, 12): "国家"}


def test_choose_thresholds_moves_only_predicates_with_enough_gold():
    # grid (0.3, 0.5, 0.7); predicate 0: 10 gold, noisy at 0.3, clean at 0.7;
    # predicate 1: same counts but 2 gold triples (below min_gold): stays at the start
    tp = np.array([[10, 9, 8], [2, 2, 1]], dtype=float)
    n_pred = np.array([[30, 12, 8], [6, 3, 1]], dtype=float)
    n_gold = np.array([10, 2], dtype=float)
    choice = choose_thresholds(tp, n_pred, n_gold, start=0, min_gold=5)
    assert list(choice) == [2, 0]
    p, r, f1 = _micro(tp, n_pred, n_gold, choice)
    assert (p, r) == (10 / 14, 10 / 12) and f1 > _micro(tp, n_pred, n_gold, np.zeros(2, int))[2]


def test_precision_target_lets_rare_predicates_rise_but_never_fall():
    # as above; with a target of 0.9 the rare predicate may move up (2 of 3 right at 0.5):
    # 10 of 11 = 0.909 meets it with the most recall; without a target it stays at the start
    tp = np.array([[10, 9, 8], [2, 2, 1]], dtype=float)
    n_pred = np.array([[30, 12, 8], [6, 3, 1]], dtype=float)
    n_gold = np.array([10, 2], dtype=float)
    choice = choose_thresholds(tp, n_pred, n_gold, start=0, min_gold=5, precision_target=0.9)
    assert list(choice) == [2, 1]
    assert _micro(tp, n_pred, n_gold, choice)[0] >= 0.9
    # a rare predicate never moves below its start, even when that would add recall
    choice = choose_thresholds(tp, n_pred, n_gold, start=1, min_gold=5, precision_target=0.5)
    assert choice[1] >= 1
    # an unreachable target: the most precise choice
    choice = choose_thresholds(tp, n_pred, n_gold, start=0, min_gold=5, precision_target=1.01)
    assert _micro(tp, n_pred, n_gold, choice)[0] == 1.0


def test_count_table_decodes_each_grid_threshold():
    # one sentence, one subject "张三" (0, 2); predicate 0 object "北京" (5, 7) at 0.6,
    # a wrong object "出生" (2, 4) at 0.4
    text = "张三出生于北京"
    ps = np.zeros((7, 2), dtype=np.float32)
    ps[0, 0], ps[1, 1] = 0.9, 0.9
    po = np.zeros((7, 1, 2), dtype=np.float32)
    po[5, 0, 0], po[6, 0, 1] = 0.6, 0.6
    po[2, 0, 0], po[3, 0, 1] = 0.4, 0.4
    tables = [{"ps": ps, "po": {(0, 2): po}}]
    gold = [[("张三", "出生地", "北京")]]
    tp, n_pred, n_gold = count_table(tables, [text], [list(text)], gold, ["出生地"], 0.5,
                                     [0.3, 0.5, 0.7], None, 0.0)
    assert n_gold.tolist() == [1]
    assert tp.tolist() == [[1, 1, 0]] and n_pred.tolist() == [[2, 1, 0]]


def test_calibrate_writes_choices_the_loader_uses(tmp_path):
    import json

    import torch

    from wenmai.models.calibrate_extractor import CalibrationConfig, calibrate_extractor
    from wenmai.models.checkpoint import save_pretrained
    from wenmai.models.extractor import ExtractorConfig, TripleExtractor, load_extractor
    from wenmai.models.vocab import Vocab
    from wenmai.text import load_jieba, segment

    # our own typed rows, LIC2019 format
    rows = [("张三出生于北京", "张三", "人物", "出生地", "北京", "地点"),
            ("李四出生于上海", "李四", "人物", "出生地", "上海", "地点"),
            ("王五毕业于清华大学", "王五", "人物", "毕业院校", "清华大学", "学校"),
            ("赵六毕业于北京大学", "赵六", "人物", "毕业院校", "北京大学", "学校")]
    data = tmp_path / "data"
    (data / "t").mkdir(parents=True)
    with open(data / "t" / "train.json", "w", encoding="utf-8") as fh:
        for text, s, st, p, o, ot in rows:
            fh.write(json.dumps({"text": text, "spo_list": [
                {"subject": s, "subject_type": st, "predicate": p, "object": o,
                 "object_type": ot}]}, ensure_ascii=False) + "\n")
    with open(data / "t" / "schemas.json", "w", encoding="utf-8") as fh:
        for p, st, ot in (("出生地", "人物", "地点"), ("毕业院校", "人物", "学校")):
            fh.write(json.dumps({"predicate": p, "subject_type": st, "object_type": ot},
                                ensure_ascii=False) + "\n")
    jieba = load_jieba()
    vocab = Vocab.build([(r[0], list(segment(jieba, r[0]))) for r in rows])
    torch.manual_seed(0)
    model = TripleExtractor(ExtractorConfig(
        char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words,
        predicates=("出生地", "毕业院校"), d=16, word_dim=4, dilations=(1,), n_heads=2,
        max_len=64, max_distance=8, dropout=0.0))
    out = tmp_path / "extractor"
    save_pretrained(model.eval(), out, vocab=vocab, card="# card\n", extra={
        "threshold": 0.5, "max_len": 64,
        "train_config": {"train_files": ["t/train.json"], "dev_sizes": [2], "seed": 0}})
    cfg = CalibrationConfig(negatives=1, c=10.0, min_shares=(0.0, 0.5),
                            subject_thresholds=(0.5,), object_thresholds=(0.3, 0.5))
    cal = calibrate_extractor(out, data, "t/schemas.json", cfg)
    assert cal["held_out_sentences"] == 2 and len(cal["grid"]) == 2
    assert set(cal["pos_evidence"]) == {"flat", "tuned"}
    meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert set(meta["object_thresholds"]) == {"出生地", "毕业院校"}
    assert meta["type_filter"]["slots"]["毕业院校"] == [["人物"], ["组织"]]
    assert "## Decoding choices" in (out / "README.md").read_text(encoding="utf-8")
    assert meta["rules"]["slots"]["毕业院校"] == ["人物", "学校"]
    names = [r["rules"] for r in cal["rules_ablation"]]
    assert names[0] == "none" and "all (shipped)" in names and "all but cues" in names
    assert "Decode-time rules at the chosen thresholds" in (out / "README.md").read_text(
        encoding="utf-8")
    # a second calibration rewrites its section in place; hand-written notes after it stay
    card = out / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nnotes by hand\n", encoding="utf-8")
    calibrate_extractor(out, data, "t/schemas.json", cfg)
    text = card.read_text(encoding="utf-8")
    assert text.count("## Decoding choices") == 1 and text.rstrip().endswith("notes by hand")
    loaded, _ = load_extractor(out)
    assert loaded.type_filter is not None and loaded.type_filter.min_share in (0.0, 0.5)
    assert loaded.threshold == 0.5
    assert loaded.triple_rules is not None and loaded.triple_rules.config == cfg.rules


def test_grown_spans_take_one_whole_neighbouring_word():
    import random

    from wenmai.models.calibrate_extractor import _grown

    text, tokens = "总裁张三说，", ("总裁", "张三", "说", "，")
    grown = {tuple(_grown(text, tokens, {(2, 4): "人物"}, random.Random(s))[0]) for s in range(20)}
    assert grown == {(0, 4), (2, 5)}  # 总裁张三 or 张三说, never across the comma
    assert _grown(text, tokens, {(3, 4): "人物"}, random.Random(0)) == []  # not on word bounds
    assert _grown("张三，", ("张三", "，"), {(0, 2): "人物"}, random.Random(0)) == []


def test_a_card_section_is_replaced_up_to_its_last_table():
    from wenmai.models.calibrate_extractor import with_card_section

    card = "# m\n\n## Decoding\n\nold\n\n| a |\n|---|\n\nwhy, by hand\n\n## Next\n\ntext\n"
    new = with_card_section(card, "## Decoding\n\nnew\n\n| b |\n|---|")
    assert new == "# m\n\n## Decoding\n\nnew\n\n| b |\n|---|\n\nwhy, by hand\n\n## Next\n\ntext\n"
    assert with_card_section("# m\n", "## Decoding\n\n| b |") == "# m\n\n## Decoding\n\n| b |\n"
