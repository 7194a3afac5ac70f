import pytest

from faultlab.units import TimeScale, format_duration, parse_duration, parse_size


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("250ms", 0.25), (60, 60), ("1.5s", 1.5)])
def test_durations_parse_in_the_write_ups_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-3s", "5 minutes", True])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_print_in_seconds_so_they_never_read_as_nginx_sizes():
    assert format_duration(60) == "60s"
    assert format_duration(0.167) == "167ms"


@pytest.mark.parametrize(("text", "n_bytes"), [("64MiB", 64 << 20), ("1m", 1 << 20), ("2g", 2 << 30), (512, 512)])
def test_sizes(text, n_bytes):
    assert parse_size(text) == n_bytes


def test_time_scale_keeps_ratios_and_rounds_up_whole_seconds():
    scale = TimeScale.parse("1/30")
    assert scale.lab_s(60) == 2
    assert scale.lab_s_whole(30) == 1
    assert scale.lab_s_whole(100) == 4  # 3.33 s rounds up: a timeout must never shrink below its order
    assert str(scale) == "1/30"


@pytest.mark.parametrize("text", ["0", "2", "abc", "-1/2"])
def test_time_scale_must_be_a_fraction_up_to_one(text):
    with pytest.raises(ValueError):
        TimeScale.parse(text)
