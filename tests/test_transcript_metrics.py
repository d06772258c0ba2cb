from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reviews.transcript_metrics import METRIC_KEYS, MetricsAccumulator, latency_ms


def test_it_computes_every_metric_against_hand_computed_values():
    acc = MetricsAccumulator(low_confidence_threshold=0.6)
    acc.add("internal", 0, 2_000, [0.9, 0.8, 0.5], 0.9)
    acc.add("external", 2_500, 4_000, [0.4, 1.0], None)
    acc.add("internal", 4_000, 4_500, [0.7], 0.7)
    result = acc.result()
    assert list(result) == list(METRIC_KEYS)
    assert result == {
        "utterance_count": 3,
        "word_count": 6,
        "speaker_count": 2,
        "confidence_mean": pytest.approx((0.9 + 0.8 + 0.5 + 0.4 + 1.0 + 0.7) / 6),  # 0.716667
        "confidence_median": pytest.approx((0.7 + 0.8) / 2),  # sorted: .4 .5 .7 .8 .9 1.0
        "low_confidence_share": pytest.approx(2 / 6),  # 0.5 and 0.4 are below 0.6
        "phrase_stability_mean": pytest.approx(0.8),
        "talk_ms_internal": 2_500,
        "talk_ms_external": 1_500,
    }


def test_it_takes_the_middle_word_for_an_odd_count_median():
    acc = MetricsAccumulator()
    acc.add("external", 0, 100, [0.3, 0.9, 0.6], None)
    assert acc.result()["confidence_median"] == 0.6


def test_it_rounds_away_float32_storage_noise():
    acc = MetricsAccumulator()
    acc.add("external", 0, 100, [0.9], None)
    result = acc.result()
    assert result["confidence_median"] == 0.9
    assert result["confidence_mean"] == 0.9


def test_it_returns_none_for_means_when_there_are_no_words():
    acc = MetricsAccumulator()
    acc.add("internal", 0, 1_000, [], None)
    result = acc.result()
    assert result["confidence_mean"] is None
    assert result["confidence_median"] is None
    assert result["low_confidence_share"] is None
    assert result["phrase_stability_mean"] is None
    assert (result["utterance_count"], result["word_count"], result["talk_ms_internal"]) == (1, 0, 1_000)


def test_it_returns_zero_counts_for_an_empty_transcript():
    result = MetricsAccumulator().result()
    assert result["utterance_count"] == result["word_count"] == result["speaker_count"] == 0
    assert result["talk_ms_internal"] == result["talk_ms_external"] == 0


def test_it_uses_a_strict_threshold_for_low_confidence():
    acc = MetricsAccumulator(low_confidence_threshold=0.5)
    acc.add("external", 0, 1, [0.5, 0.49, 0.51, 0.1], None)
    assert acc.result()["low_confidence_share"] == 0.5


def test_it_counts_words_without_a_score_but_leaves_them_out_of_the_averages():
    acc = MetricsAccumulator()
    acc.add("external", 0, 1, [0.8, None, float("nan")], None)
    result = acc.result()
    assert result["word_count"] == 3
    assert result["confidence_mean"] == 0.8


def test_it_only_adds_talk_time_for_internal_and_external_and_never_negative():
    acc = MetricsAccumulator()
    acc.add("internal", 1_000, 500, [0.9], None)  # end before start: clock glitch
    acc.add("ivr", 0, 9_000, [0.9], None)
    acc.add("external", 0, 300, [0.9], None)
    result = acc.result()
    assert (result["talk_ms_internal"], result["talk_ms_external"], result["speaker_count"]) == (0, 300, 3)


def test_it_stores_confidences_compactly():
    acc = MetricsAccumulator()
    for index in range(1_000):
        acc.add("external", index, index + 1, [0.5] * 10, 0.5)
    assert acc._confidences.typecode == "f"
    assert acc.result()["word_count"] == 10_000


def test_it_measures_latency_in_milliseconds():
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert latency_ms(start, start + timedelta(seconds=90, milliseconds=250)) == 90_250


def test_it_returns_none_latency_when_a_moment_is_unknown():
    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert latency_ms(None, now) is None
    assert latency_ms(now, None) is None


def test_it_never_returns_negative_latency_and_reads_naive_times_as_utc():
    aware = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert latency_ms(aware, aware - timedelta(seconds=5)) == 0
    assert latency_ms(datetime(2026, 11, 1, 12, 0), aware + timedelta(seconds=1)) == 1_000
    plus_one = datetime(2026, 11, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert latency_ms(aware, plus_one) == 0
