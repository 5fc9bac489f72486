from ocrl.sandbox.compare import MATCH, MISMATCH, PRESENTATION, compare_output


def test_exact_and_trailing_whitespace():
    assert compare_output("3\n", "3\n") == MATCH
    assert compare_output("3   \n\n\n", "3") == MATCH
    assert compare_output("1 2 \r\n3\r\n", "1 2\n3\n") == MATCH


def test_floats_within_relative_and_absolute_tolerance():
    assert compare_output("0.33333333", "0.3333333") == MATCH  # |diff| = 3.3e-9
    assert compare_output("1000000.5", "1000000.0") == MATCH  # relative 5e-7
    assert compare_output("1000002", "1000000") == MISMATCH  # relative 2e-6
    assert compare_output("0.0000005", "0") == MATCH  # absolute 5e-7 near zero
    assert compare_output("0.00001", "0") == MISMATCH
    assert compare_output("nan", "nan") == MATCH  # identical tokens
    assert compare_output("nan", "1.0") == MISMATCH


def test_presentation_error_when_only_layout_differs():
    assert compare_output("1\n2\n", "1 2\n") == PRESENTATION
    assert compare_output("12\n", "1 2\n") == MISMATCH


def test_words_compare_exactly():
    assert compare_output("Yes\n", "YES\n") == MISMATCH
    assert compare_output("", "0\n") == MISMATCH
