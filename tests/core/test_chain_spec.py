"""The one parser of chain specifications such as ``"H+L,A"``."""

from deeprank_like.domain.chains import query_chain_ids, split_chain_spec


def test_split_keeps_empty_ids_for_callers_to_refuse():
    assert split_chain_spec("H+L,A") == [["H", "L"], ["A"]]
    assert split_chain_spec(" A + B , C ") == [["A", "B"], ["C"]]
    assert split_chain_spec("A+,B") == [["A", ""], ["B"]]


def test_query_chain_ids_drop_empty_ids_and_unwrap_single_chains():
    assert query_chain_ids("H+L,A") == [["H", "L"], "A"]
    assert query_chain_ids("A, B,") == ["A", "B"]
    assert query_chain_ids("A+,+,B") == ["A", "B"]
