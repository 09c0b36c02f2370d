import random

from wenmai.models.extractor_augment import EntitySwap

TYPES = {"歌手": ("歌曲", "人物"), "出生日期": ("人物", "Date"), "简称": ("机构", "Text"),
         "作者": ("图书作品", "人物")}
ROWS = [
    ("《七里香》是周杰伦演唱的歌曲", [("七里香", "歌手", "周杰伦")]),
    ("《红豆》是王菲演唱的歌曲，王菲生于1969年", [("红豆", "歌手", "王菲"), ("王菲", "出生日期", "1969年")]),
    ("《围城》的作者是钱锺书", [("围城", "作者", "钱锺书")]),
    ("北京大学简称北大", [("北京大学", "简称", "北大")]),
]


def test_pools_hold_entities_by_type_and_leave_dates_and_abbreviations_out():
    swap = EntitySwap(TYPES, ROWS)
    assert sorted(swap.pools) == ["人物", "图书作品", "歌曲"]
    assert swap.pools["人物"] == ["周杰伦", "王菲", "钱锺书"]


def test_a_swap_renames_every_occurrence_and_the_triples_alike():
    swap = EntitySwap(TYPES, ROWS)
    for seed in range(20):
        text, spo = swap.swap(*ROWS[1], random.Random(seed))
        (song, p1, singer), (person, p2, date) = spo
        assert (p1, p2, date) == ("歌手", "出生日期", "1969年")
        assert singer == person and singer in {"周杰伦", "钱锺书"} and song == "七里香"
        assert text == f"《{song}》是{singer}演唱的歌曲，{singer}生于1969年"


def test_nothing_to_swap_or_overlapping_labels_give_none():
    swap = EntitySwap(TYPES, ROWS)
    rng = random.Random(0)
    assert swap.swap(*ROWS[3], rng) is None  # 简称: both sides stay
    assert swap.swap("周杰伦的歌曲周杰伦演唱会", [("周杰伦演唱会", "歌手", "周杰伦")], rng) is None
    assert EntitySwap(TYPES, ROWS[:1]).swap(*ROWS[0], rng) is None  # no other entity to draw
