"""Registry contract suite, shard 2 of 4: see registry_contract.py for what each test checks."""

import pytest
from registry_contract import (
    TinyRuns,
    check_claim_ids,
    check_done,
    check_figures_exist,
    check_tables_round_trip,
    result_numbers,
    shard,
    shared_dir,
)

NAMES = shard(1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return TinyRuns(tmp_path_factory.mktemp("registry"))


@pytest.mark.parametrize("name", NAMES)
def test_tiny_run_finishes_done(runs, name):
    check_done(runs.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_claim_ids_are_well_formed_and_unique(runs, name, tmp_path_factory):
    check_claim_ids(runs.get(name), shared_dir(tmp_path_factory))


@pytest.mark.parametrize("name", NAMES)
def test_tables_load_back_equal_from_parquet(runs, name):
    check_tables_round_trip(runs.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_listed_figures_exist(runs, name):
    check_figures_exist(runs.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_result_json_numbers(runs, name):
    assert result_numbers(runs.get(name, repeat=1)) == result_numbers(runs.get(name))
