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


def test_integers_compare_exactly_not_within_a_tolerance():
    # 1e-6 relative would let these pass; an integer answer off by one is wrong.
    assert compare_output("1000000001\n", "1000000000\n") == MISMATCH
    assert compare_output("123456789012345679", "123456789012345678") == MISMATCH
    assert compare_output("007", "7") == MATCH  # the same integer
    assert compare_output("3.0000001", "3") == MATCH  # a decimal answer gets the tolerance


def test_only_ascii_decimals_are_numbers():
    assert compare_output("1_0\n", "10\n") == MISMATCH  # float() would read 10
    assert compare_output("\u0661\u0662\n", "12\n") == MISMATCH  # Arabic-Indic digits
    assert compare_output("1e400", "1e401") == MISMATCH  # both overflow to inf
    assert compare_output("inf", "1e400") == MISMATCH
    assert compare_output(" 3", "3") == MATCH  # separators inside a line are free


def test_control_characters_and_unicode_spaces_are_not_whitespace():
    assert compare_output("3\x0c\n", "3\n") == MISMATCH  # form feed
    assert compare_output("1\x1c2\n", "1 2\n") == MISMATCH  # file separator: str.split() splits
    assert compare_output("1\u30002\n", "1 2\n") == MISMATCH  # ideographic space
    assert compare_output("3\x00\n", "3\n") == MISMATCH
    assert compare_output("\ufeff3\n", "3\n") == MISMATCH  # a byte-order mark
    assert compare_output("1\t2\r\n", "1 2\n") == MATCH
